"""Governance of the funnel definitions: a change is a proposal, approved by one leader of each side.

The life of a change::

    propose (a marketing or sales user)   -> proposal #N, open, on top of the current version
    approve (a marketing leader)          -> approved for marketing; waiting for sales
    approve (a sales leader)              -> version V+1, effective from the proposal's date (or the approval day)
    reject  (a leader of either side, or the author withdrawing it) -> rejected, closed

Rules, each refused with a `GovernanceError` that says why, and nothing changed. Each refusal is of one kind
(`tandem.errors`), so every front end answers it the same way: a proposal or version that does not exist is
`GovernanceNotFound`; someone who may not do it (`allowed_actions` says who may do what) `GovernanceForbidden`; a
proposal whose state forbids it (closed, stale, already decided for that side, waiting for an exec's override)
`GovernanceConflict`; a request asked wrongly (no reason, a past effective date, a file identical to the current
one) `GovernanceInvalid`, naming the field at fault when there is one:

* The file is checked like `tandem.definitions.model.load_definitions` checks it (malformed YAML, rule syntax,
  unknown attributes, duplicate or cyclic stages), against the leads' columns when the caller gives them. A
  proposal identical to the current version is refused.
* Who may do what with a proposal is `allowed_actions` (and `refusal` says why not): marketing and sales users
  propose; only a leader (`Principal.is_leader`) with role marketing or sales approves, for their own side; never
  the proposal's author; once per side. Two racing approvals from one side meet the database's
  UNIQUE(proposal, side) or the proposal's row lock: one wins, the other is told who approved first.
* A proposal is approved on top of the version it was proposed on. If the definitions changed since, approving
  it marks it **stale** (that status is kept) and refuses: propose again on the new version.
* Any leader of either side may reject (one side saying no is enough); the author may withdraw their own (while
  their role may still decide on proposals).
* The quarter-end guard (`tandem.definitions.guard`): a change that loosens a marketing-owned stage and takes
  effect in the last `freeze_weeks` weeks of a calendar quarter needs an exec override (`Governance.override`:
  role exec, not the author, a reason, once, while the proposal is open), recorded as the decision of the "exec"
  side; an override is taken only while the guard holds the proposal back. Without it the approval that would
  *complete* the version is refused with the guard's message; the first side's approval is recorded as usual,
  because the leaders judge what the change says and the exec judges when it may happen, in either order. The
  loosening is measured (`added_leads`, warehouse queries) before the write transaction opens; the override is
  looked up inside it.

Every step is written to the audit log in the same transaction (`definitions.propose`, `definitions.approve`,
`definitions.version`, `definitions.reject`, `definitions.stale`, `definitions.override`), and the new version is
created in the transaction of the approval that completes it.

Extension point: `Governance.guards` are called inside the approving transaction just before a version is
created, with the session, the proposal and the approving principal; a guard raises `GovernanceError` to refuse
(`GovernanceConflict` to be answered as a conflict, 409 in the REST API).
The quarter-end guard is built in rather than one of them: it needs its measurement made before the transaction.

The effective date is recorded on the version (`effective_from`) and reported; `Workspace.stages` and funnel
results use the newest version, which names itself in every result.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tandem.accounts import Permission, Principal, Role
from tandem.audit import record
from tandem.definitions.guard import (
    GuardVerdict,
    Measured,
    Rules,
    freeze_window,
    loosened_stages,
    relaxed_rules,
    resolve_rules,
)
from tandem.definitions.model import (
    SIDES,
    Definitions,
    definitions_from_stages,
    diff_definitions,
    dump_definitions,
    load_definitions,
)
from tandem.errors import ConfigError, ConflictError, ForbiddenError, NotFoundError, TandemError
from tandem.store.database import AppStore
from tandem.store.models import DefinitionApproval, DefinitionProposal, DefinitionVersion

__all__ = [
    "ACTIONS",
    "AddedLeads",
    "Governance",
    "GovernanceConflict",
    "GovernanceError",
    "GovernanceForbidden",
    "GovernanceInvalid",
    "GovernanceNotFound",
    "Guard",
    "ProposalInfo",
    "VersionInfo",
    "allowed_actions",
    "deciders",
    "refusal",
]

T = TypeVar("T")
STATUSES = ("open", "approved", "rejected", "stale", "superseded")
#: The side an exec's override of the quarter-end guard is stored under (one per proposal, like each side's decision).
EXEC_SIDE = "exec"
#: What someone may do with an open proposal, in the order the front ends list them (`allowed_actions`): approve it
#: for their side, reject it, withdraw it (its author's rejection), or let it past the quarter-end guard.
ACTIONS = ("approve", "reject", "withdraw", "override")
#: What someone may do with the definitions themselves: propose a change.
PROPOSE = "propose"


class GovernanceError(TandemError, ValueError):
    """A proposal, approval or rejection that cannot be done as asked; nothing was changed (except marking stale).

    Raised as one of its kinds below (a guard of `Governance.guards` may raise it plainly).
    """


class GovernanceInvalid(GovernanceError, ConfigError):
    """Asked wrongly: no reason, an effective date in the past, a file that cannot be read or changes nothing."""


class GovernanceNotFound(GovernanceError, NotFoundError):
    """No such proposal or definitions version."""


class GovernanceConflict(GovernanceError, ConflictError):
    """The proposal's state forbids it: closed (approved, rejected, stale), its side already decided, already
    overridden, waiting for an exec's override, or needing none."""


class GovernanceForbidden(GovernanceError, ForbiddenError):
    """The person acting may not do this with the proposal (`allowed_actions`)."""


#: Called before a version is created: (session, proposal, approving principal); raises `GovernanceError` to refuse
#: (a `GovernanceConflict` to be answered as a conflict).
Guard = Callable[[Session, DefinitionProposal, Principal], None]

#: (current definitions, proposed definitions) -> the proposal measured on the warehouse: leads it would add to each
#: stage, and each stage's volume over the guard's window under both (`Measured`; a plain mapping gives the added
#: leads alone); None when there is no data to measure on: the guard then judges by the text.
AddedLeads = Callable[[Definitions, Definitions], Mapping[str, int] | Measured | None]


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


# --- who may do what -------------------------------------------------------------------------------------------
def allowed_actions(principal: Principal | None, proposal: ProposalInfo | None = None) -> frozenset[str]:
    """What `principal` may do now: with the definitions (no `proposal`), ``propose``; with an open proposal, some of
    `ACTIONS`. The one statement of the workflow's rules, which `Governance` enforces and the front ends show.

    On an open proposal:

    - **approve**: a marketing or sales leader (`Principal.is_leader`) for their own side, once per side, never
      the proposal's author; not the approval that would make the version while the quarter-end guard holds the
      proposal back (an exec must override first);
    - **reject**: any marketing or sales leader but its author (one side saying no closes it);
    - **withdraw**: its author, while their role may still decide on proposals (marketing, sales or exec);
    - **override**: an exec who did not write it, once, while the quarter-end guard holds it back. The guard's
      verdict must be known (`ProposalInfo.guard`, which `Governance.proposal(..., guard=True)` measures): without
      it, override is not offered.

    A closed proposal (approved, rejected, stale) allows nothing; nor does anyone who must change their one-time
    password first. `refusal` says why an action is not allowed.
    """
    if principal is None:
        return frozenset()
    if proposal is None:
        return frozenset({PROPOSE}) if refusal(principal, None, PROPOSE) is None else frozenset()
    allowed = {action for action in ACTIONS if refusal(principal, proposal, action) is None}
    if proposal.guard is None:
        allowed.discard("override")
    return frozenset(allowed)


def refusal(principal: Principal, proposal: ProposalInfo | None, action: str) -> GovernanceError | None:
    """Why `principal` may not take `action` (`PROPOSE` without a proposal, one of `ACTIONS` with one); None when
    they may. The error is of its kind: forbidden for who they are, a conflict for the proposal's state.

    With the guard's verdict unknown (`proposal.guard` None) the rules that need it are not applied: the approval
    that completes the version checks it again in its transaction, and an override measures it first.
    """
    name, role = principal.username, principal.role
    if principal.must_change_password:
        return GovernanceForbidden(f"{name} must change their one-time password first")
    if action == PROPOSE:
        if role not in (Role.MARKETING, Role.SALES) or not principal.may(Permission.PROPOSE):
            return GovernanceForbidden(
                f"{name} has the {role} role; only marketing and sales users propose changes to the definitions"
            )
        return None
    if proposal is None or action not in ACTIONS:
        raise ValueError(f"{action!r} is not an action on a proposal; the actions are {', '.join(ACTIONS)}")
    subject = f"proposal #{proposal.id}"
    author = proposal.author == name
    if action == "approve":
        return (
            _not_a_leader(principal, "approve")
            or _forbidden(author, f"{name} wrote {subject} and cannot approve it; another {role} leader must")
            or _side_decided(proposal, str(role))
            or _closed(proposal)
            or _held_back(proposal, str(role))
        )
    if action == "reject":
        return (
            _forbidden(author, f"{name} wrote {subject}: its author withdraws it rather than rejecting it")
            or _not_a_leader(principal, "reject")
            or _closed(proposal)
        )
    if action == "withdraw":
        return (
            _forbidden(not author, f"only the author of {subject} ({proposal.author}) may withdraw it")
            or _forbidden(
                not principal.may(Permission.DECIDE),
                f"{name} has the {role} role; only marketing, sales and exec users decide on proposals",
            )
            or _closed(proposal)
        )
    return (
        _forbidden(
            role is not Role.EXEC,
            f"{name} has the {role} role; only an exec (CEO or CRO) may override the guard",
        )
        or _forbidden(author, f"{name} wrote {subject} and cannot override the guard on it; another exec must")
        or _closed(proposal)
        or _overridden(proposal)
        or _needs_no_override(proposal)
    )


def _forbidden(condition: bool, message: str) -> GovernanceForbidden | None:
    return GovernanceForbidden(message) if condition else None


def _not_a_leader(principal: Principal, what: str) -> GovernanceForbidden | None:
    if principal.role not in (Role.MARKETING, Role.SALES):
        return GovernanceForbidden(
            f"{principal.username} has the {principal.role} role; only a marketing or sales leader may {what} "
            "a proposal"
        )
    if not principal.is_leader:
        return GovernanceForbidden(
            f"{principal.username} is not a {principal.role} leader; only leaders {what} for their side (an admin "
            "makes someone a leader)"
        )
    return None


def _closed(proposal: ProposalInfo) -> GovernanceConflict | None:
    if proposal.status == "open":
        return None
    if proposal.status == "approved":
        return GovernanceConflict(f"proposal #{proposal.id} is approved already; it is closed")
    return GovernanceConflict(f"proposal #{proposal.id} is {proposal.status}; it is closed, propose again")


def _side_decided(proposal: ProposalInfo, side: str) -> GovernanceConflict | None:
    approver = proposal.approved_by(side)
    if approver is None:
        return None
    return GovernanceConflict(
        f"proposal #{proposal.id} is already approved for the {side} side by {approver}; "
        "it needs one approval from each side"
    )


def _held_back(proposal: ProposalInfo, side: str) -> GovernanceConflict | None:
    """The approval that would make the version, while the guard (known) waits for an exec's override."""
    guard = proposal.guard
    completes = all(proposal.approved_by(other) is not None for other in SIDES if other != side)
    if guard is None or not completes or not guard.needs_override or proposal.override is not None:
        return None
    return GovernanceConflict(guard.message)


def _overridden(proposal: ProposalInfo) -> GovernanceConflict | None:
    given = proposal.override
    if given is None:
        return None
    return GovernanceConflict(
        f"proposal #{proposal.id} is already overridden by {given.username} ({given.at:%Y-%m-%d}): {given.comment}"
    )


def _needs_no_override(proposal: ProposalInfo) -> GovernanceConflict | None:
    guard = proposal.guard
    return GovernanceConflict(guard.message) if guard is not None and not guard.needs_override else None


class Person(Protocol):
    """A user as `deciders` reads one (`tandem.accounts.UserInfo` is one)."""

    @property
    def username(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def is_leader(self) -> bool: ...
    @property
    def disabled(self) -> bool: ...


def deciders(proposal: ProposalInfo, users: Iterable[Person]) -> dict[str, list[str]]:
    """For each side the proposal waits for (`ProposalInfo.waiting_for`), who may decide for it: that side's enabled
    leaders but the author, or for an exec's override, every enabled exec but the author."""
    people = [u for u in users if not u.disabled and u.username != proposal.author]
    return {
        side: sorted(u.username for u in people if str(u.role) == side and (u.is_leader or side == EXEC_SIDE))
        for side in proposal.waiting_for
    }


def _raise(refused: GovernanceError | None) -> None:
    if refused is not None:
        raise refused


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
        #: The freeze weeks of definitions whose `guard:` section does not set them (the workspace setting).
        self.freeze_weeks = freeze_weeks
        self.added_leads = added_leads
        #: False turns the guard off altogether (a test's switch; the definitions' rules cannot turn it off).
        self.guarded = True
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
        """Version `number`; `GovernanceNotFound` naming the versions there are when there is none."""
        with self.store.session() as s:
            row = s.get(DefinitionVersion, number)
            if row is None:
                newest = self._head(s).version
                raise GovernanceNotFound(f"no definitions version {number}; the versions are 1 to {newest}")
            return _version_info(row)

    def versions(self) -> list[VersionInfo]:
        with self.store.session() as s:
            return [_version_info(r) for r in s.scalars(select(DefinitionVersion).order_by(DefinitionVersion.version))]

    def proposal(self, proposal_id: int, *, guard: bool = False) -> ProposalInfo:
        """Proposal `proposal_id` (`GovernanceNotFound` when there is none); with `guard`, the quarter-end guard's
        verdict on it when it is open and takes effect inside a freeze window (measured on the warehouse), so that
        `waiting_for` and `allowed_actions` know whether it waits for an exec's override."""
        with self.store.session() as s:
            info = self._proposal_info(s, self._proposal(s, proposal_id))
        return self._with_guard(info) if guard else info

    def proposals(self, *, guard: bool = False) -> list[ProposalInfo]:
        """Every proposal, oldest first; with `guard`, each open one with its guard's verdict (see `proposal`)."""
        with self.store.session() as s:
            rows = s.scalars(select(DefinitionProposal).order_by(DefinitionProposal.id)).all()
            found = [self._proposal_info(s, row) for row in rows]
        return [self._with_guard(info) for info in found] if guard else found

    def _with_guard(self, info: ProposalInfo) -> ProposalInfo:
        if info.status != "open":
            return info
        return replace(info, guard=self._verdict(info.id, only_in_window=True))

    def history(self) -> dict[str, Any]:
        """Every version and every proposal, oldest first (what `tandem definitions history` shows)."""
        return {"versions": self.versions(), "proposals": self.proposals()}

    def fingerprint(self) -> list[list[str]]:
        """What the versions, proposals and decisions are now, in a few cheap reads: it changes whenever a version
        is made or a proposal is made or decided (a cache's key part for what reads them)."""
        with self.store.session() as s:
            versions = s.execute(select(DefinitionVersion.version, DefinitionVersion.created_at)).all()
            proposals = s.execute(
                select(DefinitionProposal.id, DefinitionProposal.status, DefinitionProposal.decided_at)
            ).all()
            decisions = s.execute(
                select(DefinitionApproval.id, DefinitionApproval.proposal_id, DefinitionApproval.decision)
            ).all()
        return [[str(tuple(row)) for row in sorted(rows)] for rows in (versions, proposals, decisions)]

    def guard(self, proposal_id: int) -> GuardVerdict:
        """The quarter-end guard's verdict on a proposal: what it loosens, when it counts, whether an exec must
        override it and who did. Read-only; the loosening is measured (`added_leads`) outside any transaction."""
        verdict = self._verdict(proposal_id, only_in_window=False)
        assert verdict is not None
        return verdict

    def _verdict(self, proposal_id: int, *, only_in_window: bool, measure: bool = True) -> GuardVerdict | None:
        """The verdict under the guard rules of the version the proposal was made on (`tandem.definitions.guard`).

        With `only_in_window`, None without measuring anything when nothing could hold the proposal back: it takes
        effect outside the freeze window, relaxes no guard rule and changes no rule or scoring (so it cannot add a
        lead anywhere). Without `measure`, judged by the text of the change whatever the data.
        """
        with self.store.session() as s:
            proposal = self._proposal(s, proposal_id)
            base = s.get(DefinitionVersion, proposal.base_version)
            if base is None:  # pragma: no cover - versions are never deleted
                raise GovernanceError(f"proposal #{proposal_id} was made on version {proposal.base_version}, now gone")
            current_text, proposed_text = _document_of(base), proposal.document
            effective = max(proposal.effective_from or _now().date(), _now().date())
            override = self._override(s, proposal.id)
            overridden_by, reason = (override.username, override.comment) if override is not None else (None, None)
        # The session is closed: measuring runs warehouse queries, never while holding the application database.
        current = load_definitions(current_text, source_name=f"version {proposal.base_version}")
        proposed = load_definitions(proposed_text, source_name=f"proposal #{proposal_id}")
        rules = resolve_rules(current, self.freeze_weeks) if self.guarded else Rules(0, 0, 0)
        relaxed = relaxed_rules(rules, resolve_rules(proposed, self.freeze_weeks)) if self.guarded else []
        window = freeze_window(effective, rules.freeze_weeks)
        in_window = window is not None and window[0] <= effective <= window[1]
        could_add = _membership(current) != _membership(proposed)
        if only_in_window and not in_window and not relaxed and not (could_add and self.guarded):
            return None
        measured = None
        if self.added_leads is not None and measure and could_add and self.guarded:
            measured = self.added_leads(current, proposed)
        if isinstance(measured, Measured):
            added: dict[str, int] | None = dict(measured.added)
            recent: dict[str, tuple[int, int]] | None = dict(measured.recent) or None
        else:
            added, recent = (None if measured is None else dict(measured)), None
        if added is None and not could_add:
            added = {}  # nothing that admits leads changed: no stage is loosened, whatever the text says
        return GuardVerdict(
            proposal_id=proposal_id,
            loosened=loosened_stages(current, proposed, added),
            effective=effective,
            weeks=rules.freeze_weeks,
            window=window,
            added=added,
            overridden_by=overridden_by,
            reason=reason,
            max_added_percent=rules.max_added_percent if self.guarded else None,
            window_days=rules.window_days,
            recent=recent,
            relaxed=relaxed,
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
            newest = s.scalar(select(func.max(DefinitionProposal.id)))
            known = f"the proposals are #1 to #{newest}" if newest else "there are no proposals yet"
            raise GovernanceNotFound(f"no proposal #{proposal_id}; {known}")
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
        _raise(refusal(principal, None, PROPOSE))
        if isinstance(text_or_path, str):
            text, source = text_or_path, "definitions.yaml"
        else:
            path = Path(text_or_path)
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise GovernanceInvalid(f"cannot read {path}: {exc}", field="file", value=str(path)) from None
            source = str(path)
        columns = dict(self.columns()) if self.columns is not None else None
        proposed = load_definitions(text, columns=columns, source_name=source)
        today = _now().date()
        if effective_from is not None and effective_from < today:
            raise GovernanceInvalid(
                f"the effective date {effective_from} is in the past; give today ({today}) or a later day",
                field="effective_from",
                value=effective_from.isoformat(),
            )
        label = (note or proposed.version_note or "").strip()

        def change(s: Session) -> ProposalInfo:
            head = self._head(s)
            current = load_definitions(_document_of(head), source_name=f"version {head.version}")
            changes = diff_definitions(current, proposed)
            if not changes and proposed.version_note == current.version_note:
                raise GovernanceInvalid(
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

        Refused as `allowed_actions` says (checked again in the transaction, against a racing decision). When the
        change counts inside the quarter-end freeze window its loosening is measured first, outside the write
        transaction; the completing approval is then refused unless an exec has overridden the guard.
        """
        _raise(refusal(principal, self.proposal(proposal_id), "approve"))
        side = str(principal.role)
        verdict = self._verdict(proposal_id, only_in_window=True)
        outcome = self._decide(lambda s: self._approve(s, principal, side, proposal_id, comment, verdict))
        if isinstance(outcome, GovernanceError):  # marked stale: that is kept, the approval is refused
            raise outcome
        return outcome

    def reject(self, principal: Principal, proposal_id: int, reason: str) -> ProposalInfo:
        """Close a proposal: any leader of either side may say no; its author may withdraw it."""
        found = self.proposal(proposal_id)
        action = "withdraw" if found.author == principal.username else "reject"
        _raise(refusal(principal, found, action))
        if not reason.strip():
            raise GovernanceInvalid(
                "give a reason for the rejection: the author and the other side will read it",
                field="reason",
                value=reason,
            )

        def change(s: Session) -> ProposalInfo:
            proposal = self._proposal(s, proposal_id, lock=True)
            _raise(refusal(principal, self._proposal_info(s, proposal), action))  # decided meanwhile?
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
                {"reason": reason.strip(), "withdrawn": action == "withdraw", "via": principal.via},
            )
            return self._proposal_info(s, proposal)

        return self._decide(change)

    def override(self, principal: Principal, proposal_id: int, reason: str) -> ProposalInfo:
        """An exec lets a proposal past the quarter-end guard, with a reason both teams will read.

        Only the exec role, never the proposal's author, only while it is open and the guard holds it back (it
        loosens a marketing stage and takes effect in a quarter's last weeks), once (a second override is told who
        overrode). An exec may override before the leaders approve; the leaders' approvals are still needed.
        """
        found = self.proposal(proposal_id)
        _raise(refusal(principal, found, "override"))  # who, and the proposal's state, before measuring anything
        if not reason.strip():
            raise GovernanceInvalid(
                "give a reason for the override: both teams will read it in the audit log", field="reason", value=reason
            )
        verdict = self._verdict(proposal_id, only_in_window=True) or self._verdict(
            proposal_id, only_in_window=False, measure=False
        )
        _raise(refusal(principal, replace(found, guard=verdict), "override"))

        def change(s: Session) -> ProposalInfo:
            proposal = self._proposal(s, proposal_id, lock=True)
            _raise(refusal(principal, self._proposal_info(s, proposal, verdict), "override"))  # decided meanwhile?
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
        # Again in the transaction: another leader of the side may have approved, or someone closed it, meanwhile.
        _raise(refusal(principal, self._proposal_info(s, proposal), "approve"))
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
            return GovernanceConflict(
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
        decisions = s.scalars(select(DefinitionApproval).where(DefinitionApproval.proposal_id == proposal.id)).all()
        approved = {d.side for d in decisions if d.decision == "approve"}
        if approved >= set(SIDES):
            if verdict is not None and verdict.blocked:
                raise GovernanceConflict(verdict.message)  # rolls back this approval and its audit entry too
            for guard in self.guards:
                guard(s, proposal, principal)
            definitions = load_definitions(proposal.document, source_name=f"proposal #{proposal.id}")
            # Never before the version exists: a proposal approved after its date takes effect on the approval day,
            # so no past day is counted under it (`tandem.definitions.counting`).
            effective = max(proposal.effective_from or now.date(), now.date())
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


def _membership(definitions: Definitions) -> tuple[Any, ...]:
    """What decides which leads reach which stage: the stages' names and rules in order, and the scoring (a change
    of descriptions, sides, SLAs or guard rules alone admits no lead)."""
    return (tuple((stage.name, stage.rule) for stage in definitions.stages), definitions.scoring)
