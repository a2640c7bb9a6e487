"""moderation: reports, the moderation log, appeals, community bans, limited domains

Revision ID: 0019_moderation
Revises: 0018_rules
Create Date: 2026-12-03
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.infra import fulltext

revision = "0019_moderation"
down_revision = "0018_rules"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TIME = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    # plain ADD COLUMN (no table rebuild), so the search triggers on communities stay
    op.add_column(
        "communities",
        sa.Column("modlog_names", sa.Boolean(), nullable=False, server_default="0"),
    )
    op.add_column(
        "peer_domains", sa.Column("limited", sa.Boolean(), nullable=False, server_default="0")
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=True),
        sa.Column("origin_domain", _STR(length=255), nullable=False),
        sa.Column("flag_uri", _STR(length=2048), nullable=True),
        sa.Column("target_type", _STR(length=10), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("target_account_id", sa.Integer(), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("rule_ids", sa.Text(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("extra_post_ids", sa.Text(), nullable=False),
        sa.Column("forward", sa.Boolean(), nullable=False),
        sa.Column("forwarded_at", _TIME(), nullable=True),
        sa.Column("state", _STR(length=10), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("resolved_at", _TIME(), nullable=True),
        sa.ForeignKeyConstraint(["reporter_id"], ["accounts.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["target_account_id"], ["accounts.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("flag_uri"),
    )
    op.create_index("ix_reports_reporter_id", "reports", ["reporter_id"])
    op.create_index("ix_reports_target_account_id", "reports", ["target_account_id"])
    op.create_index("ix_reports_target", "reports", ["target_type", "target_id"])
    op.create_index("ix_reports_community_state", "reports", ["community_id", "state"])
    op.create_index("ix_reports_state_created", "reports", ["state", "created_at"])
    op.create_table(
        "moderation_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_role", _STR(length=20), nullable=False),
        sa.Column("origin_domain", _STR(length=255), nullable=False),
        sa.Column("action", _STR(length=20), nullable=False),
        sa.Column("target_type", _STR(length=10), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("target_account_id", sa.Integer(), nullable=True),
        sa.Column("target_label", _STR(length=300), nullable=False),
        sa.Column("excerpt", _STR(length=500), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("rule_text", _STR(length=500), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", _TIME(), nullable=True),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["actor_id"], ["accounts.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["target_account_id"], ["accounts.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["rule_id"], ["rules.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["reverses_id"], ["moderation_actions.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_moderation_actions_scope_created",
        "moderation_actions",
        ["community_id", "created_at", "id"],
    )
    op.create_index(
        "ix_moderation_actions_target", "moderation_actions", ["target_type", "target_id"]
    )
    op.create_index(
        "ix_moderation_actions_target_account_id", "moderation_actions", ["target_account_id"]
    )
    op.create_table(
        "appeals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("state", _STR(length=10), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("decided_at", _TIME(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["action_id"], ["moderation_actions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["decided_by_id"], ["accounts.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("action_id"),
    )
    op.create_index("ix_appeals_account_id", "appeals", ["account_id"])
    op.create_table(
        "community_bans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", _TIME(), nullable=True),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["action_id"], ["moderation_actions.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("community_id", "account_id", name="uq_community_bans"),
    )
    op.create_index("ix_community_bans_account_id", "community_bans", ["account_id"])


def downgrade() -> None:
    op.drop_table("community_bans")
    op.drop_table("appeals")
    op.drop_table("moderation_actions")
    op.drop_table("reports")
    with op.batch_alter_table("peer_domains") as batch:
        batch.drop_column("limited")
    # dropping a column rebuilds the table on SQLite, which takes its search triggers
    fulltext.drop(op.get_bind())
    with op.batch_alter_table("communities") as batch:
        batch.drop_column("modlog_names")
    fulltext.create(op.get_bind())
