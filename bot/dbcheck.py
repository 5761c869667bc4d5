"""Refuse a database the admin did not mean, in one clear line (issue 13).

A mistyped SQLite path must not silently become a new empty database, and a PostgreSQL server that
is down or refuses the password must not print a driver traceback. ``check_database`` runs before
anything touches the database; only ``minqing db upgrade`` and the demo may create a SQLite file.
"""

from pathlib import Path
from typing import Any

import sqlalchemy as sa
import typer
from typer.core import TyperGroup

from storage.db import normalise_url


class DatabaseUnavailable(Exception):
    """The database cannot be used; the message is one line that says what is wrong."""


class OneLineErrors(TyperGroup):
    """The CLI's top group: a database it cannot use is one line on stderr and exit status 2."""

    def invoke(self, ctx: Any) -> Any:  # typer.Context is a subclass of the Context it is given
        try:
            return super().invoke(ctx)
        except DatabaseUnavailable as error:
            typer.echo(f"错误：{error}", err=True)
            raise typer.Exit(2) from None


def check_database(url: str, *, create: bool = False) -> None:
    """Raise ``DatabaseUnavailable`` unless ``url`` names a database that is there (or may be created)."""
    try:
        parsed = sa.make_url(normalise_url(url))
    except sa.exc.ArgumentError as error:
        raise DatabaseUnavailable(
            f"数据库地址格式不对：{url}（例如 sqlite:///minqing.db 或 postgresql://user@host/db）"
        ) from error
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite(parsed.database, create=create)
        return
    _check_server(parsed)


def _check_sqlite(database: str | None, *, create: bool) -> None:
    if not database or database == ":memory:":
        return
    path = Path(database).expanduser()
    if not path.parent.is_dir():
        raise DatabaseUnavailable(f"SQLite 数据库所在的目录不存在：{path.parent.resolve()}")
    if path.is_dir():
        raise DatabaseUnavailable(f"SQLite 数据库路径是一个目录，不是文件：{path.resolve()}")
    if not path.exists() and not create:
        raise DatabaseUnavailable(
            f"SQLite 数据库文件不存在：{path.resolve()}。新建请先运行 minqing db upgrade --db sqlite:///{database}"
        )
    if path.exists():
        with path.open("rb") as handle:
            head = handle.read(16)
        if head and head != b"SQLite format 3\x00":
            raise DatabaseUnavailable(f"这个文件不是 SQLite 数据库：{path.resolve()}")


def _check_server(parsed: sa.URL) -> None:
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"
    engine = sa.create_engine(parsed, connect_args={"connect_timeout": 5}, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("select 1"))
    except sa.exc.DBAPIError as error:
        raise DatabaseUnavailable(_server_problem(str(error.orig), where, parsed.username or "")) from None
    except sa.exc.NoSuchModuleError as error:  # pragma: no cover - a driver the lock file does not carry
        raise DatabaseUnavailable(f"不支持的数据库类型：{parsed.drivername}") from error
    finally:
        engine.dispose()


def _server_problem(message: str, where: str, user: str) -> str:
    lowered = message.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return f"PostgreSQL 拒绝登录：用户 {user} 的密码不对或没有提供（{where}）"
    if "does not exist" in lowered and "database" in lowered:
        return f"PostgreSQL 服务器上没有这个数据库：{where}（请先创建它，再运行 minqing db upgrade）"
    if "role" in lowered and "does not exist" in lowered:
        return f"PostgreSQL 服务器上没有用户 {user}（{where}）"
    if "refused" in lowered or "could not connect" in lowered or "timeout" in lowered or "timed out" in lowered:
        return f"连不上 PostgreSQL 服务器 {where}：服务器没有启动，或地址、端口不对"
    if "could not translate host name" in lowered or "name or service not known" in lowered:
        return f"找不到 PostgreSQL 服务器的主机名：{where}"
    first_line = message.strip().splitlines()[0] if message.strip() else "未知错误"
    return f"无法使用数据库 {where}：{first_line}"
