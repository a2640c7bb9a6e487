"""ranking snapshots say which feed they order: threads or artifacts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ranking_snapshots") as batch:
        batch.add_column(
            sa.Column(
                "feed",
                sqlmodel.sql.sqltypes.AutoString(length=10),
                nullable=False,
                server_default="posts",
            )
        )
        batch.drop_constraint("uq_ranking_snapshots", type_="unique")
        batch.create_unique_constraint(
            "uq_ranking_snapshots", ["community_id", "feed", "sha256", "params_key"]
        )


def downgrade() -> None:
    op.execute("DELETE FROM ranking_snapshots WHERE feed <> 'posts'")
    with op.batch_alter_table("ranking_snapshots") as batch:
        batch.drop_constraint("uq_ranking_snapshots", type_="unique")
        batch.create_unique_constraint(
            "uq_ranking_snapshots", ["community_id", "sha256", "params_key"]
        )
        batch.drop_column("feed")
