"""account lifecycle: exports, deletion with a grace period, moves (alsoKnownAs, movedTo)

Revision ID: 0021_account_lifecycle
Revises: 0020_email
Create Date: 2026-12-03
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0021_account_lifecycle"
down_revision = "0020_email"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TIME = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    # plain ADD COLUMN (no table rebuild), so the search triggers on accounts stay
    op.add_column("accounts", sa.Column("deletion_due_at", _TIME(), nullable=True))
    op.add_column("accounts", sa.Column("deleted_at", _TIME(), nullable=True))
    op.add_column("accounts", sa.Column("moved_to_uri", _STR(length=2048), nullable=True))
    op.add_column(
        "accounts", sa.Column("also_known_as", sa.Text(), nullable=False, server_default=sa.text("''"))
    )
    op.create_table(
        "account_exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("state", _STR(length=10), nullable=False),
        sa.Column("file_name", _STR(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("error", _STR(length=500), nullable=True),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("ready_at", _TIME(), nullable=True),
        sa.Column("expires_at", _TIME(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("file_name"),
    )
    op.create_index("ix_account_exports_account_id", "account_exports", ["account_id"])


def downgrade() -> None:
    op.drop_table("account_exports")
    for column in ("also_known_as", "moved_to_uri", "deleted_at", "deletion_due_at"):
        op.drop_column("accounts", column)
