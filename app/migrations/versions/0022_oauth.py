"""oauth: client apps, authorization codes, app tokens; member tokens an app holds

Revision ID: 0022_oauth
Revises: 0021_account_lifecycle
Create Date: 2026-12-04
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0022_oauth"
down_revision = "0021_account_lifecycle"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TIME = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "oauth_apps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _STR(length=100), nullable=False),
        sa.Column("website", _STR(length=2048), nullable=False),
        sa.Column("redirect_uris", sa.Text(), nullable=False),
        sa.Column("scopes", _STR(length=1000), nullable=False),
        sa.Column("client_id", _STR(length=64), nullable=False),
        sa.Column("secret_hash", _STR(length=64), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_id"),
    )
    op.create_table(
        "oauth_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_hash", _STR(length=64), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("redirect_uri", _STR(length=2048), nullable=False),
        sa.Column("scopes", _STR(length=1000), nullable=False),
        sa.Column("code_challenge", _STR(length=128), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("expires_at", _TIME(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["app_id"], ["oauth_apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_hash"),
    )
    op.create_index("ix_oauth_codes_app_id", "oauth_codes", ["app_id"])
    op.create_index("ix_oauth_codes_account_id", "oauth_codes", ["account_id"])
    op.create_index("ix_oauth_codes_expires_at", "oauth_codes", ["expires_at"])
    op.create_table(
        "oauth_app_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", _STR(length=64), nullable=False),
        sa.Column("scopes", _STR(length=1000), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["oauth_apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_oauth_app_tokens_app_id", "oauth_app_tokens", ["app_id"])
    # api_tokens is not a searched table: a batch rebuild on SQLite is safe here
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("app_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column(
                "oauth_scopes", _STR(length=1000), nullable=False, server_default=sa.text("''")
            )
        )
        batch.add_column(sa.Column("refresh_hash", _STR(length=64), nullable=True))
        batch.create_foreign_key(
            "fk_api_tokens_app_id", "oauth_apps", ["app_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index("ix_api_tokens_app_id", ["app_id"])
        batch.create_index("ix_api_tokens_refresh_hash", ["refresh_hash"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_index("ix_api_tokens_refresh_hash")
        batch.drop_index("ix_api_tokens_app_id")
        batch.drop_constraint("fk_api_tokens_app_id", type_="foreignkey")
        for column in ("refresh_hash", "oauth_scopes", "app_id"):
            batch.drop_column(column)
    op.drop_table("oauth_app_tokens")
    op.drop_table("oauth_codes")
    op.drop_table("oauth_apps")
