"""operations: dead letters, held posts, job runs, send marks, outbox leases, wider identifiers (issue 16)

Revision ID: 0002_i16
Revises: 0004_i15
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision: str = "0005_i16"
down_revision: str | None = "0004_i15"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Platform identifier columns widened from 64 to 128 characters (WeChat MsgIds, WeCom chat ids).
_IDENTIFIERS = {
    "chatidentity": ("user_id",),
    "chatgroup": ("chat_id",),
    "inboundmessage": ("chat_id", "message_id"),
    "post": ("chat_id", "message_id", "user_id"),
    "outbox": ("chat_id",),
}


def _ts(name: str, *, nullable: bool) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, storage.models.UTCDateTime(timezone=True), nullable=nullable)


def _text(name: str, length: int | None = None) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=False)


def upgrade() -> None:
    op.create_table(
        "deadletter",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("platform", 16),
        _text("chat_id", 128),
        _text("message_id", 128),
        _text("payload"),
        _text("error"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at", nullable=True),
        _ts("created_at", nullable=False),
        _ts("resolved_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_deadletter_due", "deadletter", ["resolved_at", "next_attempt_at"])
    op.create_table(
        "heldpost",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("platform", 16),
        _text("chat_id", 128),
        _text("message_id", 128),
        _text("payload"),
        _ts("held_at", nullable=False),
        _ts("filed_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "chat_id", "message_id"),
    )
    op.create_table(
        "jobrun",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("job", 32),
        _text("period", 32),
        _ts("at", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job", "period"),
    )
    op.create_table(
        "sendmark",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("key", 160),
        _ts("at", nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sendmark_key_at", "sendmark", ["key", "at"])
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(_ts("claimed_until", nullable=True))
        batch.add_column(
            sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False, server_default="")
        )
    if op.get_bind().dialect.name == "postgresql":  # SQLite does not enforce VARCHAR lengths
        for table, columns in _IDENTIFIERS.items():
            for column in columns:
                op.alter_column(table, column, type_=sa.String(128), existing_type=sa.String(64))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, columns in _IDENTIFIERS.items():
            for column in columns:
                op.alter_column(table, column, type_=sa.String(64), existing_type=sa.String(128))
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claimed_by")
        batch.drop_column("claimed_until")
    op.drop_index("ix_sendmark_key_at", "sendmark")
    op.drop_table("sendmark")
    op.drop_table("jobrun")
    op.drop_table("heldpost")
    op.drop_index("ix_deadletter_due", "deadletter")
    op.drop_table("deadletter")
