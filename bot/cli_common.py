"""What every ``minqing`` sub-command shares: the --db and --json options, settings, JSON lines, stderr."""

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from bot.settings import Settings

err = Console(stderr=True)
DbOption = Annotated[
    str | None, typer.Option("--db", help="Database URL (default: MINQING_DATABASE_URL or ./minqing.db).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def settings_for(db: str | None) -> Settings:
    """The deployment's settings, with ``--db`` in place of MINQING_DATABASE_URL when given."""
    settings = Settings()
    return settings.model_copy(update={"database_url": db}) if db else settings


def print_json(payload: Any) -> None:
    """One JSON object per line on stdout, Chinese as written."""
    sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
