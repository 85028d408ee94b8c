"""Sales' decision on a handed-over lead, taken in tandem (the rep's queue): who may take it, and the row it adds.

A decision is one row of the `handoffs` table, imported like any other (`Workspace.decide_handoff`): atomic,
in the import log and the audit log under the person who decided, and undone like any import. So a decision taken
in tandem and one imported from the CRM are the same kind of fact, and the reports count both alike.

Who may decide: a sales user on a lead they hold (the lead's current owner is their user name or display name),
and a sales leader on any lead. Only a lead whose handoff waits for a decision can be decided; a rejection needs a
reason from the contract's list (when it has one) and may carry a note.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

from tandem.accounts import Permission, Principal
from tandem.errors import ConfigError, ConflictError, ForbiddenError
from tandem.sla.contract import ServiceLevels

__all__ = ["DECISIONS", "MAX_NOTE", "check_decision", "decision_csv"]

#: The decisions a rep takes in tandem (recycling to nurture is marketing's programme, imported from the CRM).
DECISIONS = ("accepted", "rejected")
MAX_NOTE = 2000


def check_decision(
    principal: Principal,
    contract: ServiceLevels,
    *,
    lead_id: str,
    holder: str | None,
    decision: str,
    reason: str | None,
    note: str | None,
) -> None:
    """Refuse a decision `principal` may not take, or one asked wrongly; `holder` is the lead's current owner
    (None when no handoff of the lead waits for a decision)."""
    if decision not in DECISIONS:
        raise ConfigError(f"{decision!r} is not a decision; use accepted or rejected", field="decision", value=decision)
    if not principal.may(Permission.HANDOFF):
        raise ForbiddenError(f"the {principal.role} role may not decide on handoffs; sales users decide on their leads")
    if holder is None:
        raise ConflictError(f"lead {lead_id!r} has no handoff waiting for a decision")
    if not principal.is_leader and holder not in (principal.username, principal.display_name):
        raise ForbiddenError(f"lead {lead_id!r} is held by {holder!r}; only they or a sales leader may decide on it")
    if decision == "rejected":
        if not reason:
            codes = f": one of {', '.join(contract.reasons)}" if contract.reasons else ""
            raise ConfigError(f"a rejection needs a reason{codes}", field="reason", value=reason)
        if contract.reasons and reason not in contract.reasons:
            raise ConfigError(
                f"{reason!r} is not a reason of the contract; use one of {', '.join(contract.reasons)}",
                field="reason",
                value=reason,
            )
    elif reason:
        raise ConfigError("only a rejection takes a reason", field="reason", value=reason)
    if note is not None and len(note) > MAX_NOTE:
        raise ConfigError(f"the note has {len(note)} characters; keep it under {MAX_NOTE}", field="note", value=None)
    if note is not None and any(ord(ch) < 32 and ch not in "\n\t" for ch in note):
        raise ConfigError("the note holds control characters; write plain text", field="note", value=None)


def decision_csv(
    *, lead_id: str, at: datetime, decision: str, owner: str, reason: str | None, note: str | None, actor: str
) -> str:
    """The decision as a `handoffs` CSV file of one row, canonical headers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["lead_id", "occurred_at", "event", "owner", "reason", "note", "actor"])
    writer.writerow(
        [lead_id, at.strftime("%Y-%m-%d %H:%M:%S"), decision, owner, reason or "", (note or "").strip(), actor]
    )
    return buffer.getvalue()
