"""case: emotions, the model's own category and its alternatives, and whether it awaits confirmation

Revision ID: 0002_i12
Revises: 0001
Create Date: 2026-12-04 02:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_i12"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case") as batch:
        batch.add_column(sa.Column("emotions", sa.String(length=64), nullable=False, server_default=""))
        batch.add_column(sa.Column("model_category", sa.String(length=32), nullable=False, server_default=""))
        batch.add_column(sa.Column("alternatives", sa.String(length=128), nullable=False, server_default=""))
        batch.add_column(sa.Column("unconfirmed", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("case") as batch:
        batch.drop_column("unconfirmed")
        batch.drop_column("alternatives")
        batch.drop_column("model_category")
        batch.drop_column("emotions")
