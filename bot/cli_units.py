"""`minqing units add|invite|list` (吹哨报到, issue 15): departments and outside units, and their liaisons."""

import json
import sys
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli_common import DbOption, JsonOption

if TYPE_CHECKING:
    from handlers.admin import Admin

units_app = typer.Typer(
    help="Departments and outside units a case can be whistled to (吹哨报到).", no_args_is_help=True
)


def _open(db: str | None) -> "AbstractContextManager[Admin]":
    from bot.cli import _open_admin  # the CLI's one way to a migrated database

    return _open_admin(db)


def _fail(message: str) -> typer.Exit:
    typer.secho(message, err=True, fg="red")
    return typer.Exit(2)


@units_app.command("add")
def units_add(
    name: Annotated[str, typer.Option("--name", help="The unit's name, e.g. 桂花苑物业 or 社区管理办公室.")],
    kind: Annotated[
        str,
        typer.Option("--kind", help="department, property, utility, city_management, police, market or other."),
    ],
    scope: Annotated[str, typer.Option("--scope", help="Community or street code the unit serves.")],
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Create a unit; print its code and a one-time invite code for its liaison's `/join`."""
    from handlers.admin import AdminError

    try:
        with _open(db) as admin:
            unit, code = admin.add_unit(name=name, kind=kind, scope=scope, now=datetime.now(UTC))
    except AdminError as error:
        raise _fail(str(error)) from error
    if json_out:
        sys.stdout.write(json.dumps({"code": unit.code, "invite_code": code}, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(f"{unit.code} {code}\n")
        typer.echo(f"unit {unit.code} ({name}); its liaison joins with: /join {code} (valid 7 days, one use)", err=True)


@units_app.command("invite")
def units_invite(
    unit: Annotated[str, typer.Argument(help="The unit's code or name.")],
    head: Annotated[bool, typer.Option("--head", help="Invite the unit's head (second rung of its ladder).")] = False,
    name: Annotated[str, typer.Option("--name", help="The person's name.")] = "",
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Another one-time invite code for a unit's liaison (or, with --head, its head)."""
    from handlers.admin import AdminError

    try:
        with _open(db) as admin:
            code = admin.unit_invite(unit=unit, head=head, name=name, now=datetime.now(UTC))
    except AdminError as error:
        raise _fail(str(error)) from error
    if json_out:
        sys.stdout.write(json.dumps({"invite_code": code}) + "\n")
    else:
        sys.stdout.write(f"{code}\n")


@units_app.command("list")
def units_list(db: DbOption = None, json_out: JsonOption = False) -> None:
    """The units: code, name, kind, scope, people invited."""
    with _open(db) as admin:
        rows = admin.list_units()
    for row in rows:
        if json_out:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(f"{row['code']}\t{row['name']}\t{row['kind']}\t{row['scope']}\t{row['people']}\n")
