"""members' boosts (Mastodon's reblogs, ActivityPub's Announce by a person)

Revision ID: 0028_boosts
Revises: 0027_even_status_ids
Create Date: 2026-12-07
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0028_boosts"
down_revision = "0027_even_status_ids"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "boosts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("uri", sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("status_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "post_id", name="uq_boosts_pair"),
        sa.UniqueConstraint("uri"),
        sa.UniqueConstraint("status_id"),
    )
    op.create_index("ix_boosts_post_id", "boosts", ["post_id"])
    op.create_index("ix_boosts_account_status", "boosts", ["account_id", "status_id"])


def downgrade() -> None:
    op.drop_table("boosts")
