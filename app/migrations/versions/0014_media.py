"""media attachments: uploaded and cached images; a header image per account

Revision ID: 0014_media
Revises: 0009_races
Create Date: 2026-12-03
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0014_media"
down_revision = "0013_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("media_type", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("file_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("preview_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("blurhash", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("remote_url", sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_media_account_id", "media", ["account_id"])
    op.create_index("ix_media_post_id", "media", ["post_id"])
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(
            sa.Column(
                "header_url",
                sqlmodel.sql.sqltypes.AutoString(length=2048),
                nullable=False,
                server_default=sa.text("''"),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("header_url")
    op.drop_index("ix_media_post_id", table_name="media")
    op.drop_index("ix_media_account_id", table_name="media")
    op.drop_table("media")
