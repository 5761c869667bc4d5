"""Every row of every domain table: a refused command must leave it unchanged."""

from typing import Any

import sqlalchemy as sa

from tests.support.factories import World

BOOKKEEPING = {"inboundmessage", "outbox", "alembic_version"}


def snapshot(world: World) -> dict[str, list[tuple[Any, ...]]]:
    engine = world.core.db.engine
    tables = [t for t in sa.inspect(engine).get_table_names() if t not in BOOKKEEPING]
    with engine.connect() as connection:
        return {
            t: sorted(map(tuple, connection.execute(sa.text(f'SELECT * FROM "{t}"')).all()), key=repr) for t in tables
        }
