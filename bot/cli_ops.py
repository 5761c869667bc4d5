"""`minqing deadletters list|retry` and filing the posts held for a group once it is linked (issue 16)."""

import json
import sys
from typing import Annotated

import typer

from bot.cli_common import err
from bot.cli_common import settings_for as _settings

deadletters_app = typer.Typer(help="Messages the bot failed on, kept and retried.", no_args_is_help=True)


def file_held_posts(db: str | None, *, platform: str, chat_id: str) -> list[str]:
    """After ``groups link``: file what the group posted while unlinked (loads the model only if needed)."""
    from bot.wiring import build_app, open_database
    from storage import operations as ops

    database = open_database(_settings(db))
    try:
        with database.transaction() as session:
            waiting = ops.waiting_held_posts(session=session, platform=platform, chat_id=chat_id)
            if not waiting:
                return []
    finally:
        database.dispose()
    application = build_app(_settings(db))
    try:
        return application.core.file_held_posts(platform=platform, chat_id=chat_id)
    finally:
        application.db.dispose()


@deadletters_app.command("list")
def deadletters_list(
    db: Annotated[str | None, typer.Option("--db", help="Database URL.")] = None,
    all_letters: Annotated[bool, typer.Option("--all", help="Include letters already handled.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="JSON lines on stdout.")] = False,
) -> None:
    """List the messages the core failed on, with their error and next automatic attempt."""
    from bot.wiring import open_database
    from storage import operations as ops

    database = open_database(_settings(db))
    try:
        with database.transaction() as session:
            letters = list(ops.dead_letters(session=session, include_resolved=all_letters))
    finally:
        database.dispose()
    for letter in letters:
        row = {
            "id": letter.id,
            "platform": letter.platform,
            "chat_id": letter.chat_id,
            "message_id": letter.message_id,
            "attempts": letter.attempts,
            "error": letter.error,
            "created_at": letter.created_at.isoformat(),
            "next_attempt_at": letter.next_attempt_at.isoformat() if letter.next_attempt_at else None,
            "resolved_at": letter.resolved_at.isoformat() if letter.resolved_at else None,
        }
        if json_out:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            state = "handled" if letter.resolved_at else f"next {row['next_attempt_at'] or 'by hand'}"
            err.print(f"#{letter.id} {letter.platform} {letter.chat_id}/{letter.message_id} ×{letter.attempts} {state}")
            err.print(f"    {letter.error}", markup=False, highlight=False)
    if not letters and not json_out:
        err.print("no dead letters")


@deadletters_app.command("retry")
def deadletters_retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Letter ids (default: every unresolved one).")] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL.")] = None,
) -> None:
    """Hand the kept messages to the core again now; the bot's next delivery pass sends the replies."""
    from bot.deadletters import DeadLetters
    from bot.wiring import build_app

    application = build_app(_settings(db))
    try:
        letters = DeadLetters(db=application.db, handle=application.core.handle, clock=application.core.clock)
        outcomes = letters.retry_ids(ids or None)
    finally:
        application.db.dispose()
    for outcome in outcomes:
        err.print(f"#{outcome.letter_id}: {'handled' if outcome.ok else 'failed again: ' + outcome.error}")
    if any(not o.ok for o in outcomes):
        raise typer.Exit(1)
