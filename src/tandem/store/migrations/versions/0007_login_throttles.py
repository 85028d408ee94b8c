"""Sign-in throttles: atomic counters per address, per (account, client) and per account; tokens of disabled users.

Until 0006 an account locked after repeated failures against every address, and the per-address count was read
before the attempt was written, so a burst got past it. The counters here are updated by one upsert each
(`tandem.accounts`). Tokens of users disabled now are revoked, as disabling does from 0007 on, so re-enabling such
a user does not bring old tokens back.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "login_throttles",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("username", sa.String(64), nullable=True, index=True),
        sa.Column("hits", sa.Integer, nullable=False, server_default="0"),
        sa.Column("window_start", sa.DateTime(timezone=False), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=False), nullable=True),
        sa.Column("strikes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=False), nullable=False, index=True),
    )
    # The old whole-account lock is replaced by the throttles: clear it rather than keep a lock no one can see.
    op.execute(sa.text("UPDATE users SET failed_logins = 0, locked_until = NULL"))
    now = datetime.now(UTC).replace(tzinfo=None)
    op.get_bind().execute(
        sa.text(
            "UPDATE api_tokens SET revoked_at = :now WHERE revoked_at IS NULL "
            "AND user_id IN (SELECT id FROM users WHERE disabled)"
        ),
        {"now": now},
    )


def downgrade() -> None:
    op.drop_table("login_throttles")
