"""Governance of the funnel definitions: a change is a proposal, approved by one leader of each side.

The life of a change::

    propose (a marketing or sales user)   -> proposal #N, open, on top of the current version
    approve (a marketing leader)          -> approved for marketing; waiting for sales
    approve (a sales leader)              -> version V+1, effective from the proposal's date (or the approval day)
    reject  (a leader of either side, or the author withdrawing it) -> rejected, closed

Rules, each refused with a `GovernanceError` that says why, and nothing changed:

* The file is checked like `tandem.definitions.model.load_definitions` checks it (malformed YAML, rule syntax,
  unknown attributes, duplicate or cyclic stages), against the leads' columns when the caller gives them. A
  proposal identical to the current version is refused.
* Only a leader (`Principal.is_leader`) with role marketing or sales approves, for their own side; never the
  proposal's author; once per side. Two racing approvals from one side meet the database's UNIQUE(proposal, side)
  or the proposal's row lock: one wins, the other is told who approved first.
* A proposal is approved on top of the version it was proposed on. If the definitions changed since, approving
  it marks it **stale** (that status is kept) and refuses: propose again on the new version.
* Any leader of either side may reject (one side saying no is enough); the author may withdraw their own.
* The quarter-end guard (`tandem.definitions.guard`): a change that loosens a marketing-owned stage and takes
  effect in the last `freeze_weeks` weeks of a calendar quarter needs an exec override (`Governance.override`:
  role exec, not the author, a reason, once, while the proposal is open), recorded as the decision of the "exec"
  side. Without it the approval that would *complete* the version is refused with the guard's message; the first
  side's approval is recorded as usual, because the leaders judge what the change says and the exec judges when
  it may happen, in either order. The loosening is measured (`added_leads`, warehouse queries) before the write
  transaction opens; the override is looked up inside it.

Every step is written to the audit log in the same transaction (`definitions.propose`, `definitions.approve`,
`definitions.version`, `definitions.reject`, `definitions.stale`, `definitions.override`), and the new version is
created in the transaction of the approval that completes it.

Extension point: `Governance.guards` are called inside the approving transaction just before a version is
created, with the session, the proposal and the approving principal; a guard raises `GovernanceError` to refuse.
The quarter-end guard is built in rather than one of them: it needs its measurement made before the transaction.

The effective date is recorded on the version (`effective_from`) and reported; `Workspace.stages` and funnel
results use the newest version, which names itself in every result.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tandem.accounts import Principal, Role
from tandem.audit import record
from tandem.definitions.guard import GuardVerdict, freeze_window, loosened_stages
from tandem.definitions.model import (
    SIDES,
    Definitions,
    definitions_from_stages,
    diff_definitions,
    dump_definitions,
    load_definitions,
)
from tandem.errors import TandemError
from tandem.store.database import AppStore
from tandem.store.models import DefinitionApproval, DefinitionProposal, DefinitionVersion

__all__ = [
    "AddedLeads",
    "Governance",
    "GovernanceError",
    "Guard",
    "ProposalInfo",
    "VersionInfo",
]

T = TypeVar("T")
STATUSES = ("open", "approved", "rejected", "stale", "superseded")
#: The side an exec's override of the quarter-end guard is stored under (one per proposal, like each side's decision).
EXEC_SIDE = "exec"


class GovernanceError(TandemError, ValueError):
    """A proposal, approval or rejection that cannot be done as asked; nothing was changed (except marking stale)."""


#: Called before a version is created: (session, proposal, approving principal); raises `GovernanceError` to refuse.
Guard = Callable[[Session, DefinitionProposal, Principal], None]

#: (current definitions, proposed definitions) -> leads the proposal would add to each stage, measured on the warehouse
#: (None when there is no data to measure on: the guard then judges by the text).
AddedLeads = Callable[[Definitions, Definitions], Mapping[str, int] | None]


@dataclass(frozen=True)
class VersionInfo:
    """One version of the definitions."""

    version: int
    definitions: Definitions
    document: str
    created_at: datetime
    created_by: str
    note: str
    effective_from: date | None
    proposal_id: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "stages": self.definitions.stage_names,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "note": self.note,
            "effective_from": self.effective_from,
            "proposal_id": self.proposal_id,
        }


@dataclass(frozen=True)
class ApprovalInfo:
    username: str
    side: str
    decision: str
    comment: str
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ProposalInfo:
    """A proposal, its status and the decisions on it so far."""

    id: int
    base_version: int
    author: str
    note: str
    created_at: datetime
    effective_from: date | None
    status: str
    decided_at: datetime | None
    document: str
    decisions: list[ApprovalInfo] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    #: The version made from it, once approved.
    version: int | None = None
    #: The quarter-end guard's verdict, when the call that returned this computed it (an approval in the window).
    guard: GuardVerdict | None = None

    def approved_by(self, side: str) -> str | None:
        return next((d.username for d in self.decisions if d.side == side and d.decision == "approve"), None)

    @property
    def override(self) -> ApprovalInfo | None:
        """The exec's override of the quarter-end guard (who, why, when), if one was given."""
        return next((d for d in self.decisions if d.side == EXEC_SIDE and d.decision == "override"), None)

    @property
    def waiting_for(self) -> list[str]:
        """Who must still decide (empty unless open): the sides without an approval, then "exec" when the guard's
        verdict is known and asks for an override not yet given (no exec approves otherwise)."""
        if self.status != "open":
            return []
        waiting: list[str] = [side for side in SIDES if self.approved_by(side) is None]
        if self.guard is not None and self.guard.needs_override and self.override is None:
            waiting.append(EXEC_SIDE)
        return waiting

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "base_version": self.base_version,
            "author": self.author,
            "note": self.note,
            "created_at": self.created_at,
            "effective_from": self.effective_from,
            "status": self.status,
            "decided_at": self.decided_at,
            "decisions": [d.as_dict() for d in self.decisions],
            "changes": self.changes,
            "version": self.version,
            "override": None if self.override is None else self.override.as_dict(),
            "guard": None if self.guard is None else self.guard.as_dict(),
        }


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _document_of(row: DefinitionVersion) -> str:
    """The version's YAML; versions from before migration 0003 that it could not rebuild derive it from stages."""
    return row.document if row.document is not None else dump_definitions(definitions_from_stages(row.stages))


def _version_info(row: DefinitionVersion) -> VersionInfo:
    document = _document_of(row)
    return VersionInfo(
        version=row.version,
        definitions=load_definitions(document, source_name=f"version {row.version}"),
        document=document,
        created_at=row.created_at,
        created_by=row.created_by,
        note=row.note,
        effective_from=row.effective_from,
        proposal_id=row.proposal_id,
    )


class Governance:
    """Proposals, approvals and versions of one workspace's definitions (see the module's documentation).

    `columns` gives the leads' columns (name -> type) proposals are checked against; `None` checks syntax only.
    `freeze_weeks` is the quarter-end guard's window (0 turns it off); `added_leads` measures on the warehouse how
    many leads a proposal adds to each stage, `None` judges loosening by the text of the change.
    """

    def __init__(
        self,
        store: AppStore,
        columns: Callable[[], Mapping[str, str]] | None = None,
        *,
        freeze_weeks: int = 2,
        added_leads: AddedLeads | None = None,
    ) -> None:
        self.store = store
        self.columns = columns
        self.freeze_weeks = freeze_weeks
        self.added_leads = added_leads
        self.guards: list[Guard] = []

    # --- reading ----------------------------------------------------------------------------------------------
    def _head(self, s: Session) -> DefinitionVersion:
        row = s.scalars(select(DefinitionVersion).order_by(DefinitionVersion.version.desc()).limit(1)).first()
        if row is None:
            raise GovernanceError("the workspace has no funnel definitions; was it created with `tandem init`?")
        return row

    def current(self) -> VersionInfo:
        """The newest version: what funnel results use, and what proposals are made on."""
        with self.store.session() as s:
            return _version_info(self._head(s))

    def version(self, number: int) -> VersionInfo:
        with self.store.session() as s:
            row = s.get(DefinitionVersion, number)
            if row is None:
                newest = self._head(s).version
                raise GovernanceError(f"no definitions version {number}; the versions are 1 to {newest}")
            return _version_info(row)

    def versions(self) -> list[VersionInfo]:
        with self.store.session() as s:
            return [_version_info(r) for r in s.scalars(select(DefinitionVersion).order_by(DefinitionVersion.version))]

    def proposal(self, proposal_id: int) -> ProposalInfo:
        with self.store.session() as s:
            return self._proposal_info(s, self._proposal(s, proposal_id))

    def proposals(self) -> list[ProposalInfo]:
        with self.store.session() as s:
            rows = s.scalars(select(DefinitionProposal).order_by(DefinitionProposal.id)).all()
            return [self._proposal_info(s, row) for row in rows]

    def history(self) -> dict[str, Any]:
        """Every version and every proposal, oldest first (what `tandem definitions history` shows)."""
        return {"versions": self.versions(), "proposals": self.proposals()}

    def guard(self, proposal_id: int) -> GuardVerdict:
        """The quarter-end guard's verdict on a proposal: what it loosens, when it counts, whether an exec must
        override it and who did. Read-only; the loosening is measured (`added_leads`) outside any transaction."""
        verdict = self._verdict(proposal_id, only_in_window=False)
        assert verdict is not None
        return verdict

    def _verdict(self, proposal_id: int, *, only_in_window: bool) -> GuardVerdict | None:
        """The verdict; with `only_in_window`, None without measuring anything when the change counts outside it."""
        with self.store.session() as s:
            proposal = self._proposal(s, proposal_id)
            base = s.get(DefinitionVersion, proposal.base_version)
            if base is None:  # pragma: no cover - versions are never deleted
                raise GovernanceError(f"proposal #{proposal_id} was made on version {proposal.base_version}, now gone")
            current_text, proposed_text = _document_of(base), proposal.document
            effective = proposal.effective_from or _now().date()
            override = self._override(s, proposal.id)
            overridden_by, reason = (override.username, override.comment) if override is not None else (None, None)
        # The session is closed: measuring runs warehouse queries, never while holding the application database.
        window = freeze_window(effective, self.freeze_weeks)
        if only_in_window and (window is None or not window[0] <= effective <= window[1]):
            return None
        current = load_definitions(current_text, source_name=f"version {proposal.base_version}")
        proposed = load_definitions(proposed_text, source_name=f"proposal #{proposal_id}")
        measured = None if self.added_leads is None else self.added_leads(current, proposed)
        added = None if measured is None else dict(measured)
        return GuardVerdict(
            proposal_id=proposal_id,
            loosened=loosened_stages(current, proposed, added),
            effective=effective,
            weeks=self.freeze_weeks,
            window=window,
            added=added,
            overridden_by=overridden_by,
            reason=reason,
        )

    @staticmethod
    def _override(s: Session, proposal_id: int) -> DefinitionApproval | None:
        return s.scalars(
            select(DefinitionApproval).where(
                DefinitionApproval.proposal_id == proposal_id,
                DefinitionApproval.side == EXEC_SIDE,
                DefinitionApproval.decision == "override",
            )
        ).first()

    def _proposal(self, s: Session, proposal_id: int, *, lock: bool = False) -> DefinitionProposal:
        query = select(DefinitionProposal).where(DefinitionProposal.id == proposal_id)
        if lock:  # PostgreSQL: decisions on one proposal queue here (SQLite writers hold the database lock)
            query = query.with_for_update()
        row = s.scalars(query).first()
        if row is None:
            raise GovernanceError(f"no proposal #{proposal_id}; `tandem definitions history` lists them")
        return row

    def _proposal_info(self, s: Session, row: DefinitionProposal, guard: GuardVerdict | None = None) -> ProposalInfo:
        decisions = s.scalars(
            select(DefinitionApproval).where(DefinitionApproval.proposal_id == row.id).order_by(DefinitionApproval.at)
        ).all()
        base = s.get(DefinitionVersion, row.base_version)
        changes: list[str] = []
        if base is not None:
            old = load_definitions(_document_of(base), source_name=f"version {base.version}")
            new = load_definitions(row.document, source_name=f"proposal #{row.id}")
            changes = [str(change) for change in diff_definitions(old, new)]
        made = s.scalar(select(DefinitionVersion.version).where(DefinitionVersion.proposal_id == row.id))
        return ProposalInfo(
            id=row.id,
            base_version=row.base_version,
            author=row.author,
            note=row.note,
            created_at=row.created_at,
            effective_from=row.effective_from,
            status=row.status,
            decided_at=row.decided_at,
            document=row.document,
            decisions=[ApprovalInfo(d.username, d.side, d.decision, d.comment, d.at) for d in decisions],
            changes=changes,
            version=made,
            guard=guard,
        )

    # --- proposing --------------------------------------------------------------------------------------------
    def propose(
        self,
        principal: Principal,
        text_or_path: str | os.PathLike[str],
        note: str = "",
        effective_from: date | None = None,
    ) -> ProposalInfo:
        """Propose a new definitions file (its text, or a path to it) on top of the current version.

        The file is checked in full first (`DefinitionsError` lists every problem with line and column); the
        note defaults to the file's `version_note`. Without `effective_from` the version counts from the day it is
        approved; a date before today is refused.
        """
        if principal.role not in (Role.MARKETING, Role.SALES):
            raise GovernanceError(
                f"{principal.username} has the {principal.role} role; only marketing and sales users propose changes "
                "to the definitions"
            )
        if isinstance(text_or_path, str):
            text, source = text_or_path, "definitions.yaml"
        else:
            path = Path(text_or_path)
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise GovernanceError(f"cannot read {path}: {exc}") from None
            source = str(path)
        columns = dict(self.columns()) if self.columns is not None else None
        proposed = load_definitions(text, columns=columns, source_name=source)
        today = _now().date()
        if effective_from is not None and effective_from < today:
            raise GovernanceError(
                f"the effective date {effective_from} is in the past; give today ({today}) or a later day"
            )
        label = (note or proposed.version_note or "").strip()

        def change(s: Session) -> ProposalInfo:
            head = self._head(s)
            current = load_definitions(_document_of(head), source_name=f"version {head.version}")
            changes = diff_definitions(current, proposed)
            if not changes and proposed.version_note == current.version_note:
                raise GovernanceError(
                    f"the proposal is identical to the current definitions (version {head.version}); nothing to approve"
                )
            row = DefinitionProposal(
                base_version=head.version,
                document=text,
                note=label,
                author=principal.username,
                created_at=_now(),
                effective_from=effective_from,
                status="open",
            )
            s.add(row)
            s.flush()
            record(
                s,
                principal.username,
                "definitions.propose",
                f"proposal #{row.id}",
                {
                    "base_version": head.version,
                    "note": label,
                    "effective_from": effective_from,
                    "changes": [str(c) for c in changes],
                    "via": principal.via,
                },
            )
            return self._proposal_info(s, row)

        return self.store.write(change)

    # --- deciding ---------------------------------------------------------------------------------------------
    def approve(self, principal: Principal, proposal_id: int, comment: str = "") -> ProposalInfo:
        """Approve for the principal's side; the second side's approval makes the new version in the same step.

        When the change counts inside the quarter-end freeze window its loosening is measured first, outside the
        write transaction; the completing approval is then refused unless an exec has overridden the guard.
        """
        side = self._leader_side(principal, "approve")
        verdict = self._verdict(proposal_id, only_in_window=True)
        outcome = self._decide(lambda s: self._approve(s, principal, side, proposal_id, comment, verdict))
        if isinstance(outcome, GovernanceError):  # marked stale: that is kept, the approval is refused
            raise outcome
        return outcome

    def reject(self, principal: Principal, proposal_id: int, reason: str) -> ProposalInfo:
        """Close a proposal: any leader of either side may say no; its author may withdraw it."""
        if not reason.strip():
            raise GovernanceError("give a reason for the rejection: the author and the other side will read it")

        def change(s: Session) -> ProposalInfo:
            proposal = self._proposal(s, proposal_id, lock=True)
            is_author = proposal.author == principal.username
            if not is_author:
                self._leader_side(principal, "reject")
            self._require_open(proposal)
            now = _now()
            proposal.status, proposal.decided_at = "rejected", now
            side = str(principal.role)
            taken = s.scalar(
                select(DefinitionApproval.id).where(
                    DefinitionApproval.proposal_id == proposal.id, DefinitionApproval.side == side
                )
            )
            if side in SIDES and taken is None:  # the side's one decision; the audit log keeps every reason
                s.add(
                    DefinitionApproval(
                        proposal_id=proposal.id,
                        username=principal.username,
                        side=side,
                        decision="reject",
                        comment=reason.strip(),
                        at=now,
                    )
                )
            s.flush()
            record(
                s,
                principal.username,
                "definitions.reject",
                f"proposal #{proposal.id}",
                {"reason": reason.strip(), "withdrawn": is_author, "via": principal.via},
            )
            return self._proposal_info(s, proposal)

        return self._decide(change)

    def override(self, principal: Principal, proposal_id: int, reason: str) -> ProposalInfo:
        """An exec lets a proposal past the quarter-end guard, with a reason both teams will read.

        Only the exec role, never the proposal's author, only while it is open, once (a second override is told
        who overrode). An exec may override before the leaders approve; the leaders' approvals are still needed.
        """
        if principal.role is not Role.EXEC:
            raise GovernanceError(
                f"{principal.username} has the {principal.role} role; only an exec (CEO or CRO) may override the "
                "quarter-end guard"
            )
        if not reason.strip():
            raise GovernanceError("give a reason for the override: both teams will read it in the audit log")

        def change(s: Session) -> ProposalInfo:
            proposal = self._proposal(s, proposal_id, lock=True)
            if proposal.author == principal.username:
                raise GovernanceError(
                    f"{principal.username} wrote proposal #{proposal.id} and cannot override the guard on it; "
                    "another exec must"
                )
            self._require_open(proposal)
            existing = self._override(s, proposal.id)
            if existing is not None:
                raise GovernanceError(
                    f"proposal #{proposal.id} is already overridden by {existing.username} "
                    f"({existing.at:%Y-%m-%d}): {existing.comment}"
                )
            s.add(
                DefinitionApproval(
                    proposal_id=proposal.id,
                    username=principal.username,
                    side=EXEC_SIDE,
                    decision="override",
                    comment=reason.strip(),
                    at=_now(),
                )
            )
            s.flush()  # a racing override fails here, on UNIQUE(proposal_id, side)
            record(
                s,
                principal.username,
                "definitions.override",
                f"proposal #{proposal.id}",
                {"reason": reason.strip(), "via": principal.via},
            )
            return self._proposal_info(s, proposal)

        return self._decide(change)

    def _decide(self, change: Callable[[Session], T]) -> T:
        """Run a decision; when it lost a race in the database, run it once more so it says what won."""
        try:
            return self.store.write(change)
        except IntegrityError:
            return self.store.write(change)

    @staticmethod
    def _leader_side(principal: Principal, what: str) -> str:
        if principal.role not in (Role.MARKETING, Role.SALES):
            raise GovernanceError(
                f"{principal.username} has the {principal.role} role; only a marketing or sales leader may {what} "
                "a proposal"
            )
        if not principal.is_leader:
            raise GovernanceError(
                f"{principal.username} is not a {principal.role} leader; only leaders {what} for their side "
                "(an admin makes someone a leader with `tandem users set NAME --leader`)"
            )
        return str(principal.role)

    @staticmethod
    def _require_open(proposal: DefinitionProposal) -> None:
        if proposal.status == "open":
            return
        if proposal.status == "approved":
            raise GovernanceError(f"proposal #{proposal.id} is approved already; it is closed")
        raise GovernanceError(f"proposal #{proposal.id} is {proposal.status}; it is closed, propose again")

    def _approve(
        self,
        s: Session,
        principal: Principal,
        side: str,
        proposal_id: int,
        comment: str,
        verdict: GuardVerdict | None,
    ) -> ProposalInfo | GovernanceError:
        proposal = self._proposal(s, proposal_id, lock=True)
        if proposal.author == principal.username:
            raise GovernanceError(
                f"{principal.username} wrote proposal #{proposal.id} and cannot approve it; another {side} leader must"
            )
        decisions = s.scalars(select(DefinitionApproval).where(DefinitionApproval.proposal_id == proposal.id)).all()
        same_side = next((d for d in decisions if d.side == side), None)
        if same_side is not None and same_side.decision == "approve":
            raise GovernanceError(
                f"proposal #{proposal.id} is already approved for the {side} side by {same_side.username}; "
                "it needs one approval from each side"
            )
        self._require_open(proposal)
        head = self._head(s)
        if head.version != proposal.base_version:
            proposal.status, proposal.decided_at = "stale", _now()
            record(
                s,
                principal.username,
                "definitions.stale",
                f"proposal #{proposal.id}",
                {"base_version": proposal.base_version, "current_version": head.version},
            )
            return GovernanceError(
                f"proposal #{proposal.id} is stale: the definitions changed to version {head.version} after this "
                f"proposal (made on version {proposal.base_version}); propose again on top of it"
            )
        now = _now()
        s.add(
            DefinitionApproval(
                proposal_id=proposal.id,
                username=principal.username,
                side=side,
                decision="approve",
                comment=comment.strip(),
                at=now,
            )
        )
        s.flush()  # a racing approval from the same side fails here, on UNIQUE(proposal_id, side)
        record(
            s,
            principal.username,
            "definitions.approve",
            f"proposal #{proposal.id}",
            {"side": side, "comment": comment.strip(), "via": principal.via},
        )
        if verdict is not None:  # the override is read here, in the transaction, so one given a moment ago counts
            override = self._override(s, proposal.id)
            verdict = replace(
                verdict,
                overridden_by=override.username if override is not None else None,
                reason=override.comment if override is not None else None,
            )
        approved = {d.side for d in decisions if d.decision == "approve"} | {side}
        if approved >= set(SIDES):
            if verdict is not None and verdict.blocked:
                raise GovernanceError(verdict.message)  # rolls back this approval and its audit entry too
            for guard in self.guards:
                guard(s, proposal, principal)
            definitions = load_definitions(proposal.document, source_name=f"proposal #{proposal.id}")
            effective = proposal.effective_from or now.date()
            s.add(
                DefinitionVersion(
                    version=head.version + 1,
                    stages=definitions.stage_names,
                    document=proposal.document,
                    created_at=now,
                    created_by=proposal.author,
                    note=proposal.note,
                    effective_from=effective,
                    proposal_id=proposal.id,
                )
            )
            proposal.status, proposal.decided_at = "approved", now
            s.flush()
            record(
                s,
                principal.username,
                "definitions.version",
                f"version {head.version + 1}",
                {"proposal_id": proposal.id, "effective_from": effective, "note": proposal.note},
            )
        return self._proposal_info(s, proposal, verdict)
