"""revision numbers are unique per artifact; job claims carry a fencing token

Revision ID: 0009_races
Revises: 0008_vote_floors
Create Date: 2026-12-02
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009_races"
down_revision = "0008_vote_floors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Concurrent saves could give two revisions the same number before this
    # constraint: renumber every artifact's revisions in id order first (only
    # artifacts with a duplicate change), and keep its counter in step.
    op.execute(
        """
        UPDATE artifact_revisions SET number = (
            SELECT count(*) FROM artifact_revisions AS earlier
            WHERE earlier.artifact_id = artifact_revisions.artifact_id
              AND earlier.id <= artifact_revisions.id
        )
        WHERE artifact_id IN (
            SELECT artifact_id FROM artifact_revisions
            GROUP BY artifact_id, number HAVING count(*) > 1
        )
        """
    )
    op.execute(
        """
        UPDATE artifacts SET revision_count = (
            SELECT count(*) FROM artifact_revisions
            WHERE artifact_revisions.artifact_id = artifacts.id
        )
        """
    )
    with op.batch_alter_table("artifact_revisions") as batch:
        batch.create_unique_constraint("uq_artifact_revisions_number", ["artifact_id", "number"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("claim_token", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("claim_token")
    with op.batch_alter_table("artifact_revisions") as batch:
        batch.drop_constraint("uq_artifact_revisions_number", type_="unique")
