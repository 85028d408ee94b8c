"""The administration questions: the import log, the users, the API tokens, the audit log and its check, and the
alerts the rules sent.

Who may ask is each front end's gate, as before: the REST API and the pages by the route's permission (the users
and the tokens for admins, the audit log for admins and execs, imports and alerts for everyone signed in), the
command line by access to the workspace's files. The documents themselves never carry a secret: no password or
token hash, and no alert destination's address (a webhook's URL can be its secret), whoever asks.

Moments are UTC, and said so: ISO 8601 text ending in ``Z`` (the import log keeps the form `tandem status` shows
its last import in). Users, tokens, the audit log and the alerts change all the time outside the warehouse, so
the web app asks these questions afresh every time rather than through its cache; the import log is keyed by
the newest import into each table, which is what it reads.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from tandem.alerts.history import MAX_HISTORY, check_limit, check_status
from tandem.errors import ConfigError
from tandem.questions.base import Question
from tandem.questions.forecast import PeriodLabel
from tandem.warehouse.schema import TABLES

if TYPE_CHECKING:
    from tandem.accounts import TokenInfo, UserInfo
    from tandem.workspace import Workspace

__all__ = [
    "MAX_ALERTS",
    "MAX_AUDIT",
    "MAX_ID",
    "MAX_IMPORTS",
    "AlertsQuestion",
    "AuditQuestion",
    "AuditVerifyQuestion",
    "ImportsQuestion",
    "TokensQuestion",
    "UsersQuestion",
    "token_document",
    "user_document",
    "utc",
]

#: The most imports, audit entries, alerts a question lists at once (the alerts' bound is the history's own).
MAX_IMPORTS = 1000
MAX_AUDIT = 1000
MAX_ALERTS = MAX_HISTORY
#: The largest number the database's INTEGER columns hold (an audit entry's seq, a token's id).
MAX_ID = 2**31 - 1
#: The audit log's head hash: SHA-256 in hex.
HEAD_PATTERN = r"^[0-9a-fA-F]{64}$"


def utc(moment: datetime | None) -> str | None:
    """A stored moment (naive UTC) as ISO 8601 text that says it is UTC: ``2026-11-26T15:30:00.123456Z``."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat() + "Z"


def _username(value: Any) -> Any:
    """A user name as stored (the accounts' own rule); empty: none."""
    from tandem.accounts import parse_username

    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_username(value) if isinstance(value, str) else value


def _text(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


Username = Annotated[str | None, BeforeValidator(_username)]
#: Text of one line or more, up to 200 characters, no NUL; empty: none.
OptionalText = Annotated[Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")] | None, BeforeValidator(_text)]


class ImportsQuestion(Question):
    """The import log, newest first: when, who, which table and file (its sha256), rows added, updated, unchanged
    and rejected, and undone by (or the undo of) which import."""

    kind = "imports"
    #: Keyed by the newest import into each table: any import changes the log.
    reads = (*TABLES, "imports")

    limit: Annotated[int, Field(ge=1, le=MAX_IMPORTS)] = 50

    def answer(self, ws: Workspace) -> dict[str, Any]:
        from tandem.warehouse.undo import with_undo_marks

        # Each row also says whether it was undone (`undone_by`) or is an undo (`undo_of`, `removed`).
        return {"imports": with_undo_marks(ws.warehouse, ws.imports(self.limit))}


def user_document(user: UserInfo) -> dict[str, Any]:
    """One user as every front end shows it: name, role, leader, disabled, locked, one-time password, created."""
    return {**user.as_dict(), "created_at": utc(user.created_at)}


def token_document(token: TokenInfo) -> dict[str, Any]:
    """One API token, never its secret (only its hash is stored, and not shown): owner, name, role, prefix, times."""
    return {
        **token.as_dict(),
        "created_at": utc(token.created_at),
        "last_used_at": utc(token.last_used_at),
        "revoked_at": utc(token.revoked_at),
    }


class UsersQuestion(Question):
    """Every user, by name: role, leader flag, and whether disabled, locked or still on a one-time password."""

    kind = "users"
    reads = ("accounts",)

    def answer(self, ws: Workspace) -> dict[str, Any]:
        return {"users": [user_document(user) for user in ws.accounts.users()]}


class TokensQuestion(Question):
    """API tokens, revoked ones included, oldest first: every user's, or only `user`'s (the Account page asks for
    the signed-in user's own). A user that does not exist is refused (`NotFoundError`)."""

    kind = "tokens"
    reads = ("accounts",)

    user: Username = None

    def check(self, ws: Workspace) -> None:
        if self.user is not None:
            ws.accounts.user(self.user)

    def answer(self, ws: Workspace) -> dict[str, Any]:
        return {"tokens": [token_document(token) for token in ws.accounts.tokens(self.user)]}


class AuditQuestion(Question):
    """The audit log, newest first: who changed what, when, with each entry's hash; `before` pages back (the last
    seq of a page)."""

    kind = "audit"
    reads = ("audit",)

    limit: Annotated[int, Field(ge=1, le=MAX_AUDIT)] = 50
    before: Annotated[int | None, Field(ge=1, le=MAX_ID)] = None

    def answer(self, ws: Workspace) -> dict[str, Any]:
        entries = ws.audit_log(self.limit, self.before)
        return {"entries": [{**entry, "at": utc(entry["at"])} for entry in entries]}


def _head(value: Any) -> Any:
    """A head hash kept from an earlier check (any case; compared in lower case); empty: none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or not re.fullmatch(HEAD_PATTERN, value.strip()):
        raise ConfigError(
            f"{value!r} is not a head hash; give the 64 hexadecimal digits an earlier check gave as head_hash"
        )
    return value.strip().lower()


HeadHash = Annotated[str | None, BeforeValidator(_head)]


class AuditVerifyQuestion(Question):
    """The audit log's hash chain walked whole: every edited entry, gap and broken link named by its seq, and the
    head hash to keep elsewhere; given that `expect_head`, deleted newest entries are caught too."""

    kind = "audit_verify"
    reads = ("audit",)

    expect_head: HeadHash = None

    def answer(self, ws: Workspace) -> dict[str, Any]:
        result = ws.verify_audit(self.expect_head)
        return {
            "ok": result.ok,
            "entries": result.entries,
            "head_hash": result.head_hash,
            "problems": [{"seq": p.seq, "message": p.message} for p in result.problems],
        }


class AlertsQuestion(Question):
    """What the alert rules sent or tried, newest first: each alert's rule, signal, period, destination (its name
    and channel, never its address), status, tries, last error, times, text and payload; optionally only one
    status, rule or calendar period."""

    kind = "alerts"
    reads = ("alerts",)

    limit: Annotated[int, AfterValidator(check_limit)] = 50
    status: Annotated[str | None, BeforeValidator(_text), AfterValidator(check_status)] = None
    rule: OptionalText = None
    period: PeriodLabel = None

    def answer(self, ws: Workspace) -> dict[str, Any]:
        records = ws.alerts.history(limit=self.limit, status=self.status, rule=self.rule, period=self.period)
        alerts = []
        for record in records:
            row = record.as_dict()
            del row["target"]  # a webhook's URL can be its secret; the destination's name says where it went
            for name in ("fired_at", "last_attempt_at", "sent_at"):
                row[name] = utc(row[name])
            row["text"] = record.text
            alerts.append(row)
        return {"alerts": alerts, "limit": self.limit}
