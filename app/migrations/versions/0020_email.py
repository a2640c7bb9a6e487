"""email: members' addresses and their confirmation, mailed one-time links
(confirm an address, reset a password), and what the sessions page shows

Revision ID: 0020_email
Revises: 0019_moderation
Create Date: 2026-12-03
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0020_email"
down_revision = "0019_moderation"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TIME = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    # plain ADD COLUMN (no table rebuild), so the search triggers on accounts stay
    op.add_column("accounts", sa.Column("email", _STR(length=320), nullable=True))
    op.add_column("accounts", sa.Column("email_verified_at", _TIME(), nullable=True))
    op.create_index("ix_accounts_email", "accounts", ["email"], unique=True)
    op.add_column("web_sessions", sa.Column("last_used_at", _TIME(), nullable=True))
    op.add_column(
        "web_sessions",
        sa.Column("user_agent", _STR(length=200), nullable=False, server_default=sa.text("''")),
    )
    op.add_column(
        "web_sessions",
        sa.Column("ip_prefix", _STR(length=64), nullable=False, server_default=sa.text("''")),
    )
    op.create_table(
        "email_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("purpose", _STR(length=10), nullable=False),
        sa.Column("token_hash", _STR(length=64), nullable=False),
        sa.Column("email", _STR(length=320), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("expires_at", _TIME(), nullable=False),
        sa.Column("used_at", _TIME(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_email_tokens_account_id", "email_tokens", ["account_id"])
    op.create_index("ix_email_tokens_expires_at", "email_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_email_tokens_expires_at", table_name="email_tokens")
    op.drop_index("ix_email_tokens_account_id", table_name="email_tokens")
    op.drop_table("email_tokens")
    op.drop_column("web_sessions", "ip_prefix")
    op.drop_column("web_sessions", "user_agent")
    op.drop_column("web_sessions", "last_used_at")
    op.drop_index("ix_accounts_email", table_name="accounts")
    op.drop_column("accounts", "email_verified_at")
    op.drop_column("accounts", "email")
