"""images on artifacts (per revision) and sensitive media

Revision ID: 0016_artifact_media
Revises: 0015_registration
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_artifact_media"
down_revision = "0015_registration"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("media") as batch:
        batch.add_column(sa.Column("artifact_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("sensitive", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_foreign_key(
            "fk_media_artifact_id", "artifacts", ["artifact_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_index("ix_media_artifact_id", ["artifact_id"])
    with op.batch_alter_table("artifacts") as batch:
        batch.add_column(sa.Column("attachments", sa.Text(), nullable=True))
    op.create_table(
        "artifact_revision_media",
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["revision_id"], ["artifact_revisions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["media_id"], ["media.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("revision_id", "media_id"),
    )
    op.create_index(
        "ix_artifact_revision_media_media_id", "artifact_revision_media", ["media_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_artifact_revision_media_media_id", table_name="artifact_revision_media")
    op.drop_table("artifact_revision_media")
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_column("attachments")
    with op.batch_alter_table("media") as batch:
        batch.drop_index("ix_media_artifact_id")
        batch.drop_constraint("fk_media_artifact_id", type_="foreignkey")
        batch.drop_column("sensitive")
        batch.drop_column("artifact_id")
