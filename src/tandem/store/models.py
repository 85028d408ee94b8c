"""SQLAlchemy models of the application state."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class DefinitionVersion(Base):
    """One version of the funnel definitions. Version 1 is the stage list given to `tandem init`.

    Every funnel result names the version that produced it; later versions come from approved proposals.
    """

    __tablename__ = "definition_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    stages: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    #: The definitions file (YAML) of this version; null only on rows from before migration 0003 that it could not
    #: rebuild, which `tandem.definitions.governance` then derives from `stages`.
    document: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: First day (UTC) the version counts from; null for version 1 (always).
    effective_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: The approved proposal this version came from; null for version 1.
    proposal_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class DefinitionProposal(Base):
    """A proposed new version of the definitions, on top of `base_version`, waiting for both sides' leaders.

    Status: open, approved (a version was made from it), rejected, stale (the definitions changed under it),
    superseded (reserved for a later proposal that replaces it).
    """

    __tablename__ = "definition_proposals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    base_version: Mapped[int] = mapped_column(Integer, nullable=False)
    document: Mapped[str] = mapped_column(Text, nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    author: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False)
    effective_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False), nullable=True)


class DefinitionApproval(Base):
    """One side's decision on a proposal. One per side: two racing approvals from a side collide here."""

    __tablename__ = "definition_approvals"
    __table_args__ = (UniqueConstraint("proposal_id", "side", name="uq_definition_approvals_side"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("definition_proposals.id", ondelete="CASCADE"), nullable=False, index=True
    )
    username: Mapped[str] = mapped_column(String(64), nullable=False)
    side: Mapped[str] = mapped_column(String(16), nullable=False)
    decision: Mapped[str] = mapped_column(String(16), nullable=False)
    comment: Mapped[str] = mapped_column(Text, nullable=False, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False)


class User(Base):
    """A person who signs in: their role decides what they may do, the leader flag whether they approve.

    Roles: admin (users, tokens, settings), marketing, sales, exec (reads everything, may override a freeze),
    viewer (reads). Passwords are stored only as argon2 hashes.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    is_leader: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    must_change_password: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    #: Failures in a row from clients the account does not know (mirrors its ``account|`` `LoginThrottle`).
    failed_logins: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: When the last current sign-in block on the account ends (the latest `LoginThrottle.blocked_until` of the
    #: user): what "locked" in the users list means. Kept in step by `tandem.accounts`; the throttles decide.
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=False), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False)


class WebSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False)


class ApiToken(Base):
    """A bearer token for the REST API, scoped to a role no higher than its owner's. Stored as SHA-256 only."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False), nullable=True)


class LoginAttempt(Base):
    """Sign-in attempts, kept for a day as a record (the limits themselves count in `LoginThrottle`)."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False, index=True)
    success: Mapped[bool] = mapped_column(Boolean, nullable=False)


class LoginThrottle(Base):
    """One sign-in counter, updated by a single atomic upsert so concurrent attempts cannot read a stale count.

    ``key`` says what it counts (`tandem.accounts` builds it): ``address|A`` every attempt from address A in the
    current rate window; ``client|USER|CLIENT`` failures in a row on USER from one address or one known browser;
    ``account|USER`` failures in a row on USER from clients it has not signed in from. ``blocked_until`` is when a
    block ends (never permanent); ``strikes`` how many blocks it has had, so each next one lasts twice as long.
    """

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    #: The account a ``client|`` or ``account|`` counter is about (null for an address's), for unlocking.
    username: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    hits: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=False), nullable=True)
    strikes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False, index=True)


class AuditEntry(Base):
    """One change, appended, never updated. ``hash`` covers the entry and the previous entry's hash.

    ``seq`` is assigned by the writer as the previous entry's plus one, so two racing writers collide on the
    primary key and one retries: the chain never forks.
    """

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class Goal(Base):
    """A revenue target for a period (``2027``, ``2027-Q1``, ``2027-01``), for the whole company or one slice.

    One per (period, dimension, value): the whole company's goal has dimension and value ``""`` (not null, so the
    unique constraint holds on every database). Setting it again replaces the amount; earlier amounts are in the
    audit log (``goal.set`` entries carry what they replaced). Amounts are whole cents.
    """

    __tablename__ = "goals"
    __table_args__ = (UniqueConstraint("period", "dimension", "value", name="uq_goals_period_slice"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    #: "" for the whole company, else segment, region or product.
    dimension: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    value: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    #: The share of the goal marketing-sourced revenue should bring; null: measured from the year before.
    marketing_share: Mapped[float | None] = mapped_column(Float, nullable=True)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False)
    updated_by: Mapped[str] = mapped_column(String(64), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False)


class Plan(Base):
    """The marketing plan of one period (``2027-Q1``): its versions are `PlanVersion` rows.

    The row is what decisions on the period's plan lock (PostgreSQL ``SELECT ... FOR UPDATE``), so two racing
    acceptances queue and the second reads what the first did.
    """

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(16), nullable=False, unique=True)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False)


class PlanVersion(Base):
    """One version of a period's marketing plan, as proposed: the plan file, its sufficiency check, its fate.

    Status: proposed (waiting for a sales leader), sent_back, rejected, superseded (a newer version was proposed
    before a decision), accepted (the period's baseline), replaced (an accepted version a later acceptance
    replaced). An accepted or replaced version is frozen: migration 0005's trigger refuses any change to it but
    accepted -> replaced, and its deletion.
    """

    __tablename__ = "plan_versions"
    __table_args__ = (UniqueConstraint("plan_id", "version", name="uq_plan_versions_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="RESTRICT"), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    document: Mapped[str] = mapped_column(Text, nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    author: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="proposed")
    #: The sales leader who accepted, sent back or rejected it (or the author of the version that superseded it).
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False), nullable=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    #: `tandem.plan.forward.Sufficiency.as_dict()` as computed when it was proposed; null when it could not run.
    sufficiency: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class PlanComment(Base):
    """A review comment, kept with the version it was made on."""

    __tablename__ = "plan_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("plan_versions.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    author: Mapped[str] = mapped_column(String(64), nullable=False)
    comment: Mapped[str] = mapped_column(Text, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False)


class AlertDelivery(Base):
    """One alert for one destination: what a rule raised on one signal reading, and whether it got there.

    One row per (rule, signal key, destination), unique, so an alert is sent at most once however often
    `tandem alerts run` runs: the signal key holds the period, and a new period is a new alert. Status: sending
    (claimed by a run, being delivered), sent, failed (retried by the next run), gave_up (failed
    `alert_max_attempts` times). `claimed_at` lets a later run take over a `sending` row a crashed run left behind.
    """

    __tablename__ = "alert_deliveries"
    __table_args__ = (UniqueConstraint("rule", "signal_key", "destination", name="uq_alert_deliveries_alert"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule: Mapped[str] = mapped_column(String(100), nullable=False)
    signal_key: Mapped[str] = mapped_column(String(400), nullable=False)
    destination: Mapped[str] = mapped_column(String(100), nullable=False)
    kind: Mapped[str] = mapped_column(String(50), nullable=False)
    subject: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    period: Mapped[str] = mapped_column(String(50), nullable=False)
    #: "webhook" or "email"; `target` the webhook's scheme and host or the email addresses (never a URL's secret path).
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    target: Mapped[str] = mapped_column(Text, nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    #: The document delivered (webhook JSON; the email's text is made from it), as of the latest try.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    fired_at: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False, index=True)
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False), nullable=True)
