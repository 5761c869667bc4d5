"""issue 13: verified binding (resident proof, approval requests, failed-attempt throttle), visit lists

Revision ID: 0003_i13
Revises: 0002_i12
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.models

revision: str = "0003_i13"
down_revision: str | None = "0002_i12"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing bindings were never proved: they keep verified_via = '' and grant nothing.
    with op.batch_alter_table("resident") as batch:
        batch.add_column(
            sa.Column("verified_via", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("verified_at", storage.models.UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        "bindrequest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["identity_id"], ["chatidentity.id"]),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"]),
        sa.ForeignKeyConstraint(["decided_by"], ["officer.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_bindrequest_identity_id", "bindrequest", ["identity_id"])
    op.create_index("ix_bindrequest_household_id", "bindrequest", ["household_id"])
    op.create_table(
        "failedattempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_failedattempt_who", "failedattempt", ["platform", "user_id", "kind", "at"])
    op.create_table(
        "visitlistsent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("week_start", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["officer_id"], ["officer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("officer_id", "week_start"),
    )


    op.create_table(
        "surveyround",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("period_start", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("eligible", sa.Integer(), nullable=False),
        sa.Column("sampled", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["grid_id"], ["grid.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "period_start", "grid_id"),
    )
    op.create_table(
        "survey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("asked_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reminded_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answered_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answer1", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("answer2", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.ForeignKeyConstraint(["round_id"], ["surveyround.id"]),
        sa.ForeignKeyConstraint(["identity_id"], ["chatidentity.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("round_id", "identity_id"),
    )
    op.create_index("ix_survey_round_id", "survey", ["round_id"])


def downgrade() -> None:
    op.drop_index("ix_survey_round_id", table_name="survey")
    op.drop_table("survey")
    op.drop_table("surveyround")
    op.drop_table("visitlistsent")
    op.drop_index("ix_failedattempt_who", table_name="failedattempt")
    op.drop_table("failedattempt")
    op.drop_index("ix_bindrequest_household_id", table_name="bindrequest")
    op.drop_index("ix_bindrequest_identity_id", table_name="bindrequest")
    op.drop_table("bindrequest")
    with op.batch_alter_table("resident") as batch:
        batch.drop_column("verified_at")
        batch.drop_column("verified_via")
