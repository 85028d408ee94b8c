"""The marketing plan as a proposal that sales leaders accept; the accepted version is the period's baseline.

A plan is written as YAML, one file per period::

    period: 2027-Q1
    note: Q1 demand plan
    programs:
      - name: Webinar series
        channel: webinar
        campaign: wb-2027-q1        # optional
        budget: 40k                 # 40000, 40k, 1.2M, $40,000 (0 for a program that costs nothing)
        start: 2026-12-01
        end: 2027-02-28             # inclusive
        volume: 900                 # optional: expected entries; default: budget / the channel's cost per lead
        stage: lead                 # optional: the stage the volume counts at (default: the first stage)

The life of a period's plan (one `Plan` row, versions 1, 2, ...)::

    propose  (a marketing user)      -> version N, proposed; a proposed version before it is superseded
    review   (marketing or sales)    -> a comment kept with version N
    send back (a sales leader)       -> version N sent back with a reason; marketing proposes a revision
    accept   (a sales leader)        -> version N accepted: the period's baseline; the one before is replaced
    reject   (a sales leader)        -> version N closed for good, with a reason

Rules, each refused with a `PlanError` that says what to do, and nothing changed. A `PlanError` is raised as one of
the kinds of `tandem.errors`: a plan or version that does not exist is a `PlanNotFoundError`; one whose state forbids
the step (replaced, decided already, nothing waiting, identical to the version waiting) a `PlanConflictError`;
someone whose role or part in the plan forbids it a `PlanForbiddenError`; anything else asked that cannot be used
(an empty comment, a file that cannot be read or checked) an `InvalidPlanError`. Who may do what on a plan version,
in each state, is `allowed_actions`: the pages show the forms it allows and the documents list it, and the steps
below refuse exactly what it does not allow.

* The file is checked in full first (`PlanFileError` lists every problem with file, line, column and value).
  Before anything is stored the **sufficiency check** runs it forward through the workspace's funnel model
  (`tandem.plan.forward.sufficiency`): expected revenue and range, the probability of meeting the goal, the
  shortfall by stage and month. Its result is stored with the version, as it was when proposed.
* Only marketing users propose (leaders or not). A version identical to the one waiting, or (with none waiting)
  to the baseline, is refused.
* Anyone in marketing or sales may comment, on the version waiting for a decision only: a review naming an older
  version is **stale** and refused ("version 2 was replaced by version 3; read it and review again").
* Only a sales leader accepts, sends back or rejects; never the version's author. Accepting names the version
  read: a stale one is refused. Two racing acceptances queue on the plan's row (PostgreSQL row lock; SQLite
  writers are serialised): one wins, the other is told who accepted.
* An accepted version cannot be edited: a change is a new version, which needs acceptance again (the accepted one
  stays the baseline until then). The database enforces it too: migration 0005's trigger refuses any update of an
  accepted version (but its replacement by a later acceptance) and its deletion.

Every step is written to the audit log in the same transaction: ``plan.propose``, ``plan.review``,
``plan.send_back``, ``plan.accept``, ``plan.reject``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from yaml.nodes import Node, ScalarNode, SequenceNode

from tandem.accounts import Principal, Role
from tandem.audit import record
from tandem.errors import (
    ConfigError,
    ConflictError,
    FileProblemsError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    TandemError,
)
from tandem.located_yaml import Entries, YamlReader, compose_yaml, is_null
from tandem.money import AMOUNT_FORMS, parse_amount
from tandem.periods import CalendarPeriod, parse_period
from tandem.plan.forward import Program
from tandem.store.database import AppStore
from tandem.store.models import Plan, PlanComment, PlanVersion

__all__ = [
    "ACTIONS",
    "Action",
    "CommentInfo",
    "InvalidPlanError",
    "PlanConflictError",
    "PlanDocument",
    "PlanError",
    "PlanFileError",
    "PlanForbiddenError",
    "PlanInfo",
    "PlanNotFoundError",
    "PlanVersionInfo",
    "Plans",
    "SufficiencyCheck",
    "allowed_actions",
    "load_plan",
    "plan_ref",
]

#: What the audit log keeps of a version's sufficiency check.
SUFFICIENCY_AUDITED = ("goal", "expected_revenue", "low", "high", "after_period_revenue")

T = TypeVar("T")
STATUSES = ("proposed", "sent_back", "rejected", "superseded", "accepted", "replaced")
#: The status of the version waiting for a decision: the only one anyone may review or decide on.
WAITING = "proposed"
_TOP_KEYS = ("period", "note", "programs")
_PROGRAM_KEYS = ("name", "channel", "campaign", "budget", "start", "end", "volume", "stage")
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
MAX_COMMENT_CHARS = 5000


class PlanError(TandemError, ValueError):
    """A proposal, review or decision on a plan that cannot be done as asked; nothing was changed. Raised as one of
    the kinds below."""


class InvalidPlanError(PlanError, InvalidError):
    """What was asked cannot be used: an empty comment or reason, a file that cannot be read or checked."""


class PlanNotFoundError(PlanError, NotFoundError):
    """No such plan, or no such version of it."""


class PlanConflictError(PlanError, ConflictError):
    """The version's state forbids the step: replaced by a newer one, decided already, nothing waiting, or a
    proposal identical to the version waiting (or to the baseline)."""


class PlanForbiddenError(PlanError, ForbiddenError):
    """The person's role, or their part in the version (its author), forbids the step."""


class PlanFileError(FileProblemsError):
    """The plan file cannot be used; `issues` holds every problem found. Nothing was stored."""

    subject = "the plan"
    outcome = "nothing was stored"


# --- the plan file ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlanDocument:
    """A plan file, read: the period it is for, a note, and its programs."""

    period: CalendarPeriod
    note: str
    programs: tuple[Program, ...]

    @property
    def budget(self) -> float:
        return sum(p.budget for p in self.programs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period.label,
            "note": self.note,
            "budget": self.budget,
            "programs": [dict(p.__dict__) for p in self.programs],
        }


def load_plan(
    path_or_text: str | os.PathLike[str],
    *,
    stages: Sequence[str] | None = None,
    source_name: str = "plan.yaml",
) -> PlanDocument:
    """Read a plan file (a path) or its text (a `str`), reporting every problem at once (`PlanFileError`).

    With `stages` (the funnel's stages) a program's `stage` must be one of them.
    """
    if isinstance(path_or_text, str):
        text = path_or_text
    else:
        path = Path(path_or_text)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidPlanError(f"cannot read {path}: {exc}") from None
        if source_name == "plan.yaml":
            source_name = str(path)
    reader = YamlReader(source_name, text)
    root = compose_yaml(reader, text, "the plan file", "start with `period: 2027-Q1` and `programs:`")
    if root is None:
        raise PlanFileError(reader.issues)
    document = _read_plan(reader, root, stages)
    if reader.issues or document is None:
        raise PlanFileError(reader.sorted_issues())
    return document


def _read_plan(reader: YamlReader, root: Node, stages: Sequence[str] | None) -> PlanDocument | None:
    top = reader.mapping(root, _TOP_KEYS, "the plan file")
    if top is None:
        return None
    period: CalendarPeriod | None = None
    if "period" not in top:
        reader.problem(root, "the plan file has no 'period'", "add `period: 2027-Q1` (a year, quarter or month)")
    else:
        shown = reader.text(top, "period", "the plan file", owner=root)
        if shown is not None:
            try:
                period = parse_period(shown)
            except ConfigError as exc:
                reader.problem(top["period"][1], "'period' is not a period", str(exc), value=shown)
    note = (reader.text(top, "note", "the plan file") or "").strip()
    programs: list[Program] = []
    if "programs" not in top:
        reader.problem(root, "the plan file has no 'programs'", "add `programs:` with a list of programs")
        return None
    node = top["programs"][1]
    if not isinstance(node, SequenceNode) or not node.value:
        reader.problem(
            node, "'programs' must be a list with at least one program", "write `programs:` then `  - name: ...`"
        )
        return None
    names: dict[str, int] = {}
    for index, item in enumerate(node.value, start=1):
        name, program = _read_program(reader, item, f"program {index}", stages)
        if name is not None and name in names:
            reader.problem(
                item,
                f"program name {name!r} appears twice (first as program {names[name]})",
                "give each program its own name",
                value=name,
            )
            continue
        if name is not None:
            names[name] = index
        if program is not None:
            programs.append(program)
    if period is None or reader.issues:
        return None
    return PlanDocument(period=period, note=note, programs=tuple(programs))


def _read_program(
    reader: YamlReader, node: Node, what: str, stages: Sequence[str] | None
) -> tuple[str | None, Program | None]:
    """The program's name (when it has one) and the program (None when anything in it is wrong)."""
    entries = reader.mapping(node, _PROGRAM_KEYS, what)
    if entries is None:
        return None, None
    before = len(reader.issues)
    name = reader.text(entries, "name", what, owner=node)
    label = f"program {name!r}" if name else what
    channel = reader.text(entries, "channel", label, owner=node)
    campaign = reader.text(entries, "campaign", label)
    budget = _budget(reader, entries, label, node)
    start = _day(reader, entries, "start", label, node)
    end = _day(reader, entries, "end", label, node)
    if start is not None and end is not None and end < start:
        reader.problem(
            entries["end"][1],
            f"{label} ends before it starts ({start})",
            "give an end on or after the start",
            value=str(end),
        )
    volume = _volume(reader, entries, label)
    stage = reader.text(entries, "stage", label)
    if stage is not None and stages is not None and stage not in stages:
        reader.problem(
            entries["stage"][1],
            f"'stage' in {label} is not a stage of the funnel",
            f"one of: {', '.join(stages)}",
            value=stage,
        )
    if budget == 0 and volume is None and len(reader.issues) == before:
        reader.problem(
            node, f"{label} costs nothing and gives no volume", "give `volume:` (the entries it brings) or a budget"
        )
    name = name.strip() if name is not None else None
    if len(reader.issues) > before or name is None or channel is None or budget is None or start is None or end is None:
        return name, None
    return name, Program(
        name=name,
        channel=channel.strip(),
        budget=budget,
        start=start,
        end=end,
        volume=volume,
        stage=stage.strip() if stage else None,
        campaign=campaign.strip() if campaign else None,
    )


def _budget(reader: YamlReader, entries: Entries, what: str, owner: Node) -> float | None:
    text = reader.text(entries, "budget", what, owner=owner)
    if text is None:
        return None
    if text.strip() in ("0", "0.0", "$0"):
        return 0.0
    try:
        return float(parse_amount(text))
    except ConfigError:
        reader.problem(
            entries["budget"][1], f"'budget' in {what} is not an amount", f"{AMOUNT_FORMS}, or 0", value=text
        )
        return None


def _day(reader: YamlReader, entries: Entries, key: str, what: str, owner: Node) -> date | None:
    text = reader.text(entries, key, what, owner=owner)
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        reader.problem(
            entries[key][1], f"{key!r} in {what} is not a date", "a day as YYYY-MM-DD, e.g. 2027-01-15", value=text
        )
        return None


def _volume(reader: YamlReader, entries: Entries, what: str) -> float | None:
    if "volume" not in entries:
        return None
    value_node = entries["volume"][1]
    if isinstance(value_node, ScalarNode) and is_null(value_node):
        return None
    text = value_node.value.replace(",", "").replace("_", "") if isinstance(value_node, ScalarNode) else ""
    if not (isinstance(value_node, ScalarNode) and _NUMBER.match(text.strip()) and float(text) > 0):
        shown = value_node.value if isinstance(value_node, ScalarNode) else None
        reader.problem(
            value_node, f"'volume' in {what} is not a number of entries", "a number more than 0, e.g. 900", value=shown
        )
        return None
    return float(text)


# --- what the service returns -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CommentInfo:
    version: int
    author: str
    comment: str
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PlanVersionInfo:
    """One version of a period's plan: the file, its sufficiency check as run when proposed, and its fate."""

    plan_id: int
    period: str
    version: int
    status: str
    author: str
    note: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str
    document: str
    sufficiency: dict[str, Any] | None
    comments: list[CommentInfo] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"plan #{self.plan_id} ({self.period}) version {self.version}"

    @property
    def plan(self) -> PlanDocument:
        return load_plan(self.document, source_name=self.label)

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "period": self.period,
            "version": self.version,
            "status": self.status,
            "author": self.author,
            "note": self.note,
            "created_at": self.created_at,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at,
            "reason": self.reason,
            "plan": self.plan.as_dict(),
            "document": self.document,
            "sufficiency": self.sufficiency,
            "comments": [c.as_dict() for c in self.comments],
        }


@dataclass(frozen=True)
class PlanInfo:
    """A period's plan: every version, oldest first."""

    id: int
    period: str
    versions: list[PlanVersionInfo]

    @property
    def baseline(self) -> PlanVersionInfo | None:
        """The accepted version: what the period is measured against."""
        return next((v for v in self.versions if v.status == "accepted"), None)

    @property
    def waiting(self) -> PlanVersionInfo | None:
        """The version waiting for a sales leader's decision, if any."""
        return next((v for v in self.versions if v.status == WAITING), None)

    @property
    def latest(self) -> PlanVersionInfo:
        return self.versions[-1]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "period": self.period,
            "baseline": None if self.baseline is None else self.baseline.version,
            "waiting": None if self.waiting is None else self.waiting.version,
            "versions": [v.as_dict() for v in self.versions],
        }


# --- who may do what ----------------------------------------------------------------------------------------------
class Action(StrEnum):
    """A step of a plan's life that someone may take (`allowed_actions`)."""

    PROPOSE = "propose"
    REVIEW = "review"
    ACCEPT = "accept"
    SEND_BACK = "send_back"
    REJECT = "reject"


#: Every action, in the order documents and pages list them.
ACTIONS: tuple[Action, ...] = tuple(Action)
#: A sales leader's decisions on the version waiting; never its author's.
DECISIONS = frozenset({Action.ACCEPT, Action.SEND_BACK, Action.REJECT})
#: The kinds a refusal is raised as (`tandem.errors`).
_KINDS = (InvalidError, NotFoundError, ConflictError, ForbiddenError)
_VERBS = {
    Action.PROPOSE: "proposes",
    Action.REVIEW: "reviews",
    Action.ACCEPT: "accepts",
    Action.SEND_BACK: "sends back",
    Action.REJECT: "rejects",
}


def _role_refusal(principal: Principal, action: Action) -> str | None:
    """Why `principal`'s role may not take `action` on any plan, or None when it may."""
    who, role = principal.username, principal.role
    if action is Action.PROPOSE:
        if role is not Role.MARKETING:
            return f"{who} has the {role} role; only marketing users propose the marketing plan"
        return None
    if action is Action.REVIEW:
        if role not in (Role.MARKETING, Role.SALES):
            return f"{who} has the {role} role; marketing and sales users review plans"
        return None
    verb = _VERBS[action]
    if role is not Role.SALES:
        return f"{who} has the {role} role; only a sales leader {verb} the marketing plan"
    if not principal.is_leader:
        return (
            f"{who} is not a sales leader; only a sales leader {verb} the marketing plan "
            "(an admin makes someone a leader with `tandem users set NAME --leader`); comment with "
            "`tandem plan review`"
        )
    return None


def _may(principal: Principal, action: Action) -> None:
    """Refuse (`PlanForbiddenError`) what `principal`'s role may not do on any plan."""
    why = _role_refusal(principal, action)
    if why is not None:
        raise PlanForbiddenError(why)


def allowed_actions(
    principal: Principal | None, plan: PlanInfo | None = None, version: int | None = None
) -> frozenset[Action]:
    """What `principal` may do now on version `version` of `plan` (default: the version waiting, else the latest);
    without a plan, on a period that has none yet. The rules, each enforced by the step itself:

    - **propose** (a new version of the period's plan, or its first): a marketing user, leader or not, whatever the
      plan's state: a new version replaces the one waiting, and a change to the baseline needs acceptance again;
    - **review** (comment): a marketing or sales user, on the version waiting for a decision only;
    - **accept**, **send back**, **reject**: a sales leader who is not the version's author, on the version waiting
      only (a replaced, accepted, sent back or rejected version is closed).

    Nobody (None) may do anything; exec, admin and viewer users only read. `ACTIONS` gives the order to list them.
    """
    if principal is None:
        return frozenset()
    allowed = {Action.PROPOSE} if _role_refusal(principal, Action.PROPOSE) is None else set()
    if plan is None:
        return frozenset(allowed)
    read = (
        (plan.waiting or plan.latest)
        if version is None
        else next((v for v in plan.versions if v.version == version), None)
    )
    if read is None or read.status != WAITING:
        return frozenset(allowed)
    for action in (Action.REVIEW, Action.ACCEPT, Action.SEND_BACK, Action.REJECT):
        if _role_refusal(principal, action) is None and not (action in DECISIONS and read.author == principal.username):
            allowed.add(action)
    return frozenset(allowed)


#: Runs a plan forward through the funnel model against the goal: `Sufficiency.as_dict()` (warehouse queries; called
#: before the write transaction opens). Raises `TandemError` when it cannot (no goal, no history): nothing is stored.
SufficiencyCheck = Callable[[PlanDocument], Mapping[str, Any]]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _json(value: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe (dates as ISO text): what is stored is what is read back."""
    result: dict[str, Any] = json.loads(json.dumps(value, default=_default))
    return result


def _default(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(type(value))


class Plans:
    """The marketing plans of one workspace, their versions, reviews and decisions (see the module's documentation).

    `check` runs the sufficiency check on a proposed plan (None: none is run and none stored, for callers without
    a warehouse); `stages` gives the funnel's stages a program's `stage` must name.
    """

    def __init__(
        self,
        store: AppStore,
        check: SufficiencyCheck | None = None,
        stages: Callable[[], Sequence[str]] | None = None,
    ) -> None:
        self.store = store
        self.check = check
        self.stages = stages

    # --- reading ----------------------------------------------------------------------------------------------
    def plan(self, ref: int | str | CalendarPeriod) -> PlanInfo:
        """A plan by its number (``3``, ``"#3"``) or its period (``"2027-Q1"``)."""
        with self.store.session() as s:
            return self._info(s, self._plan(s, ref))

    def plans(self) -> list[PlanInfo]:
        with self.store.session() as s:
            rows = s.scalars(select(Plan).order_by(Plan.period)).all()
            return [self._info(s, row) for row in rows]

    def newest(self) -> PlanInfo:
        """The plan with the most recent version; `PlanNotFoundError` when there is none yet."""
        plans = self.plans()
        if not plans:
            raise PlanNotFoundError("no plans yet; propose one with `tandem plan propose FILE --as USER`")
        return max(plans, key=lambda p: max(v.created_at for v in p.versions))

    def history(self, period: str | CalendarPeriod | None = None) -> list[PlanInfo]:
        """Every version of the period's plan (or of every plan), oldest first, with comments and decisions."""
        return self.plans() if period is None else [self.plan(period)]

    def accepted(self) -> list[tuple[int, int, datetime | None]]:
        """(plan, version, decided at) of every accepted version, in one query: what a cache keys on wherever a
        document reads the baselines (the forecast, pacing), without loading documents and comments."""
        with self.store.session() as s:
            rows = s.execute(
                select(PlanVersion.plan_id, PlanVersion.version, PlanVersion.decided_at)
                .where(PlanVersion.status == "accepted")
                .order_by(PlanVersion.plan_id)
            ).all()
        return [(plan_id, version, decided_at) for plan_id, version, decided_at in rows]

    def baseline(self, period: str | CalendarPeriod) -> PlanVersionInfo | None:
        """The accepted version of the period's plan (what plan against actual measures against), else None."""
        label = _period(period).label
        with self.store.session() as s:
            row = s.scalars(select(Plan).where(Plan.period == label)).first()
            return None if row is None else self._info(s, row).baseline

    def version(self, ref: int | str | CalendarPeriod, version: int) -> PlanVersionInfo:
        plan = self.plan(ref)
        found = next((v for v in plan.versions if v.version == version), None)
        if found is None:
            raise PlanNotFoundError(_no_version(plan.id, plan.period, version, len(plan.versions)))
        return found

    def _plan(self, s: Session, ref: int | str | CalendarPeriod, *, lock: bool = False) -> Plan:
        query = select(Plan)
        number = _plan_number(ref)
        query = query.where(Plan.id == number) if number is not None else query.where(Plan.period == _period(ref).label)
        if lock:  # PostgreSQL: decisions on one plan queue here (SQLite writers hold the database lock)
            query = query.with_for_update()
        row = s.scalars(query).first()
        if row is None:
            what = f"#{number}" if number is not None else f"for {_period(ref).label}"
            raise PlanNotFoundError(f"no plan {what}; `tandem plan history` lists the plans")
        return row

    @staticmethod
    def _versions(s: Session, plan: Plan) -> list[PlanVersion]:
        return list(s.scalars(select(PlanVersion).where(PlanVersion.plan_id == plan.id).order_by(PlanVersion.version)))

    def _info(self, s: Session, plan: Plan) -> PlanInfo:
        rows = self._versions(s, plan)
        comments = s.execute(
            select(PlanComment, PlanVersion.version)
            .join(PlanVersion, PlanVersion.id == PlanComment.version_id)
            .where(PlanVersion.plan_id == plan.id)
            .order_by(PlanComment.at, PlanComment.id)
        ).all()
        by_version: dict[int, list[CommentInfo]] = {}
        for comment, number in comments:
            by_version.setdefault(number, []).append(CommentInfo(number, comment.author, comment.comment, comment.at))
        return PlanInfo(
            id=plan.id,
            period=plan.period,
            versions=[_version_info(plan, row, by_version.get(row.version, [])) for row in rows],
        )

    # --- proposing --------------------------------------------------------------------------------------------
    def propose(self, principal: Principal, text_or_path: str | os.PathLike[str], note: str = "") -> PlanVersionInfo:
        """Propose a plan (its text, or a path to it): the next version of its period's plan, waiting for a sales
        leader. The file is checked and run forward (the sufficiency check) before anything is stored."""
        _may(principal, Action.PROPOSE)
        if isinstance(text_or_path, str):
            text, source = text_or_path, "plan.yaml"
        else:
            path = Path(text_or_path)
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InvalidPlanError(f"cannot read {path}: {exc}") from None
            source = str(path)
        stages = list(self.stages()) if self.stages is not None else None
        try:
            document = load_plan(text, stages=stages, source_name=source)
        except (PlanFileError, PlanError):
            raise
        except (ValueError, ArithmeticError) as exc:  # a program the model cannot carry (its `Program` refuses it)
            raise _out_of_range(exc) from None
        label = (note or document.note).strip()
        # Warehouse queries, before the application database's transaction opens.
        try:
            checked = _json(self.check(document)) if self.check is not None else None
        except PlanError as exc:  # the check's own refusal (no goal to check against): as said, as a kind
            if isinstance(exc, _KINDS):
                raise
            raise InvalidPlanError(str(exc)) from None
        except TandemError as exc:
            why = f"the sufficiency check cannot run on this plan: {exc}; nothing was stored"
            raise InvalidPlanError(why) from None
        except (ValueError, ArithmeticError) as exc:
            raise _out_of_range(exc) from None

        def change(s: Session) -> PlanVersionInfo:
            plan = s.scalars(select(Plan).where(Plan.period == document.period.label).with_for_update()).first()
            if plan is None:
                plan = Plan(period=document.period.label, created_by=principal.username, created_at=_now())
                s.add(plan)
                s.flush()  # a racing first proposal for the period fails here, on UNIQUE(period), and runs again
            rows = self._versions(s, plan)
            waiting = next((r for r in rows if r.status == WAITING), None)
            accepted = next((r for r in rows if r.status == "accepted"), None)
            if waiting is not None and waiting.document == text:
                raise PlanConflictError(
                    f"the plan is identical to version {waiting.version} of the {plan.period} plan, which is waiting "
                    "for a sales leader; change it, or wait for their decision"
                )
            if waiting is None and accepted is not None and accepted.document == text:
                raise PlanConflictError(
                    f"the plan is identical to version {accepted.version}, the accepted baseline of {plan.period}; "
                    "nothing to accept"
                )
            number = (rows[-1].version if rows else 0) + 1
            now = _now()
            if waiting is not None:
                waiting.status, waiting.decided_by, waiting.decided_at = "superseded", principal.username, now
                waiting.reason = f"replaced by version {number}"
            row = PlanVersion(
                plan_id=plan.id,
                version=number,
                document=text,
                note=label,
                author=principal.username,
                created_at=now,
                status=WAITING,
                reason="",
                sufficiency=checked,
            )
            s.add(row)
            s.flush()
            record(
                s,
                principal.username,
                "plan.propose",
                _target(plan, number),
                {
                    "plan_id": plan.id,
                    "version": number,
                    "note": label,
                    "programs": len(document.programs),
                    "budget": document.budget,
                    "supersedes": None if waiting is None else waiting.version,
                    "baseline": None if accepted is None else accepted.version,
                    "sufficiency": None
                    if checked is None
                    else {
                        k: checked.get(k) for k in ("goal", "expected_revenue", "low", "high", "after_period_revenue")
                    },
                    "via": principal.via,
                },
            )
            return self._version_of(s, plan, number)

        return self._write(change)

    # --- reviewing and deciding -------------------------------------------------------------------------------
    def review(self, principal: Principal, plan_id: int, comment: str, version: int) -> PlanVersionInfo:
        """Comment on the version waiting for a decision, naming the version read (an older one is refused)."""
        text = comment.strip()

        def change(s: Session) -> PlanVersionInfo:
            plan = self._plan(s, plan_id, lock=True)
            _may(principal, Action.REVIEW)
            if not text:
                raise InvalidPlanError("give a comment: what should the authors and the sales leaders read?")
            if len(text) > MAX_COMMENT_CHARS:
                raise InvalidPlanError(f"a comment has at most {MAX_COMMENT_CHARS:,} characters")
            row = self._open_version(s, plan, version, "review")
            s.add(PlanComment(version_id=row.id, author=principal.username, comment=text, at=_now()))
            s.flush()
            record(
                s,
                principal.username,
                "plan.review",
                _target(plan, row.version),
                {"plan_id": plan.id, "version": row.version, "comment": text, "via": principal.via},
            )
            return self._version_of(s, plan, row.version)

        return self._write(change)

    def accept(self, principal: Principal, plan_id: int, version: int) -> PlanVersionInfo:
        """Accept the version read as the period's baseline (a sales leader, not its author)."""

        def change(s: Session) -> PlanVersionInfo:
            plan = self._plan(s, plan_id, lock=True)
            _may(principal, Action.ACCEPT)
            row = self._open_version(s, plan, version, "accept", principal)
            now = _now()
            before = next((r for r in self._versions(s, plan) if r.status == "accepted"), None)
            if before is not None:
                before.status = "replaced"
            row.status, row.decided_by, row.decided_at = "accepted", principal.username, now
            s.flush()
            record(
                s,
                principal.username,
                "plan.accept",
                _target(plan, row.version),
                {
                    "plan_id": plan.id,
                    "version": row.version,
                    "author": row.author,
                    "replaces": None if before is None else before.version,
                    "via": principal.via,
                },
            )
            return self._version_of(s, plan, row.version)

        return self._write(change)

    def send_back(self, principal: Principal, plan_id: int, reason: str, version: int | None = None) -> PlanVersionInfo:
        """Send the waiting version back to marketing with a reason (a sales leader, not its author)."""
        return self._close(principal, plan_id, reason, version, "sent_back", Action.SEND_BACK)

    def reject(self, principal: Principal, plan_id: int, reason: str, version: int | None = None) -> PlanVersionInfo:
        """Close the waiting version for good, with a reason (a sales leader, not its author)."""
        return self._close(principal, plan_id, reason, version, "rejected", Action.REJECT)

    def _close(
        self,
        principal: Principal,
        plan_id: int,
        reason: str,
        version: int | None,
        status: str,
        action: Action,
    ) -> PlanVersionInfo:
        why = reason.strip()
        what = action.value.replace("_", " ")

        def change(s: Session) -> PlanVersionInfo:
            plan = self._plan(s, plan_id, lock=True)
            _may(principal, action)
            if not why:
                raise InvalidPlanError(f"give a reason to {what} the plan: marketing will read it")
            if version is None:
                waiting = next((r for r in self._versions(s, plan) if r.status == WAITING), None)
                if waiting is None:
                    raise PlanConflictError(f"no version of the {plan.period} plan is waiting for a decision")
                number = waiting.version
            else:
                number = version
            row = self._open_version(s, plan, number, what, principal)
            row.status, row.decided_by, row.decided_at, row.reason = status, principal.username, _now(), why
            s.flush()
            record(
                s,
                principal.username,
                f"plan.{action.value}",
                _target(plan, row.version),
                {"plan_id": plan.id, "version": row.version, "reason": why, "via": principal.via},
            )
            return self._version_of(s, plan, row.version)

        return self._write(change)

    # --- helpers ----------------------------------------------------------------------------------------------
    def _write(self, change: Callable[[Session], T]) -> T:
        """Run a change; when it lost a race in the database (a plan created twice), once more on what won."""
        try:
            return self.store.write(change)
        except IntegrityError:
            return self.store.write(change)

    def _open_version(
        self, s: Session, plan: Plan, version: int, what: str, decider: Principal | None = None
    ) -> PlanVersion:
        """The version named, if it is the one waiting for a decision; else why not (stale, decided, ...)."""
        rows = self._versions(s, plan)
        row = next((r for r in rows if r.version == version), None)
        if row is None:
            raise PlanNotFoundError(_no_version(plan.id, plan.period, version, len(rows)))
        if decider is not None and row.author == decider.username:
            raise PlanForbiddenError(
                f"{decider.username} wrote version {row.version} of the {plan.period} plan and cannot {what} it; "
                "another sales leader must"
            )
        if row.status == WAITING:
            return row
        latest = rows[-1]
        if latest.version != row.version:
            newer = f"version {latest.version}" + (f" ({latest.status})" if latest.status != WAITING else "")
            raise PlanConflictError(
                f"version {row.version} of the {plan.period} plan was replaced by {newer}; read it and {what} again "
                f"(`tandem plan show {plan.period}`)"
            )
        when = f" on {row.decided_at:%Y-%m-%d %H:%M} UTC" if row.decided_at is not None else ""
        if row.status == "accepted":
            raise PlanConflictError(
                f"version {row.version} of the {plan.period} plan was accepted by {row.decided_by}{when}: it is the "
                "baseline and cannot change; propose a new version to change it"
            )
        verb = {"sent_back": "sent back", "rejected": "rejected"}.get(row.status, row.status)
        raise PlanConflictError(
            f"version {row.version} of the {plan.period} plan was {verb} by {row.decided_by}{when}: {row.reason}; "
            "it is closed, propose a new version"
        )

    def _version_of(self, s: Session, plan: Plan, version: int) -> PlanVersionInfo:
        return next(v for v in self._info(s, plan).versions if v.version == version)


def _out_of_range(exc: Exception) -> InvalidPlanError:
    """Numbers or dates the model cannot carry (a volume of 1e29 leads, a program to 9999-12-31): the check cannot
    run before anything is stored, so this is a refusal of the file, not a failure of tandem."""
    return InvalidPlanError(
        f"the sufficiency check cannot run on this plan: its volumes or dates are out of range ({exc}); "
        "nothing was stored"
    )


def _version_info(plan: Plan, row: PlanVersion, comments: list[CommentInfo]) -> PlanVersionInfo:
    return PlanVersionInfo(
        plan_id=plan.id,
        period=plan.period,
        version=row.version,
        status=row.status,
        author=row.author,
        note=row.note,
        created_at=row.created_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        reason=row.reason,
        document=row.document,
        sufficiency=row.sufficiency,
        comments=comments,
    )


def _target(plan: Plan, version: int) -> str:
    return f"plan #{plan.id} ({plan.period}) version {version}"


def _no_version(plan_id: int, period: str, version: int, count: int) -> str:
    return f"plan #{plan_id} ({period}) has no version {version}; its versions are 1 to {count}"


def plan_ref(ref: int | str | CalendarPeriod) -> int | CalendarPeriod:
    """A plan as named: its number (``3``, ``"#3"``; up to 3 digits, since 4 digits are a year) or its period
    (``"2027-Q1"``); anything else is an `InvalidPlanError`."""
    number = _plan_number(ref)
    return number if number is not None else _period(ref)


def _plan_number(ref: int | str | CalendarPeriod) -> int | None:
    """A plan's number: an int, ``#3``, or up to 3 digits (4 digits are a year: a period)."""
    if isinstance(ref, int):
        return ref
    if isinstance(ref, str):
        text = ref.strip()
        if re.fullmatch(r"#?\d{1,3}", text) or re.fullmatch(r"#\d+", text):
            return int(text.lstrip("#"))
    return None


def _period(ref: int | str | CalendarPeriod) -> CalendarPeriod:
    if isinstance(ref, CalendarPeriod):
        return ref
    try:
        return parse_period(str(ref))
    except ConfigError as exc:
        raise InvalidPlanError(f"{ref!r} is neither a plan number (#3) nor a period: {exc}") from None
