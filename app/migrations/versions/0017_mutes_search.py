"""mutes; the full-text search index (FTS5 on SQLite, GIN on PostgreSQL)

Revision ID: 0017_search
Revises: 0016_artifact_media
Create Date: 2026-12-03
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.infra import fulltext

revision = "0017_search"
down_revision = "0016_artifact_media"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mutes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "kind", "target", name="uq_mutes_target"),
    )
    op.create_index("ix_mutes_account_id", "mutes", ["account_id"])
    fulltext.create(op.get_bind())


def downgrade() -> None:
    fulltext.drop(op.get_bind())
    op.drop_index("ix_mutes_account_id", table_name="mutes")
    op.drop_table("mutes")
