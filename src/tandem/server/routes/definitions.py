"""The Definitions page and its REST endpoints: the funnel stages every figure is computed under, their history,
and changes to them as proposals that a leader of each side approves.

Every read is a question (`tandem.questions.definitions`), answered through the server's cache with the document
the command line prints: ``GET /api/definitions`` and ``/api/definitions/{version}`` as `tandem definitions
history` and `show`, ``GET /api/definitions/proposals[/{id}]`` as `tandem definitions proposals`, the impact as
`tandem definitions impact`. The pages render those documents.

A change goes through `tandem.definitions.governance.Governance`, as on the command line: marketing and sales users
propose (`Permission.PROPOSE`); the coarse gate for deciding is `Permission.DECIDE`, and `Governance` itself decides
who exactly may approve, reject, withdraw or override (`allowed_actions`, which a proposal's ``actions`` shows for
the person asking, and which decides the buttons on its page). What it refuses is answered, never hidden, with the
status of the refusal's kind (`tandem.server.refusals`):

- a definitions file with problems: 422, every problem with its line and column (``problems``); nothing stored;
- a request asked wrongly (no reason, a past effective date, a proposal identical to the current version): 422;
- someone the workflow does not let do it (self-approval, not a leader, not an exec): 403;
- a proposal whose state forbids it (approved, rejected, stale because the definitions changed under it, which the
  refused approval itself may have found; its side already approved; waiting for an exec's override): 409;
- an unknown proposal or version: 404.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from tandem.accounts import Permission, Principal
from tandem.definitions.governance import GovernanceInvalid, ProposalInfo, allowed_actions
from tandem.definitions.model import DefinitionsError
from tandem.definitions.rule_builder import (
    OPERATORS,
    Activity,
    Condition,
    RuleParts,
    compose_rule,
    decompose_rule,
    with_stage_rule,
)
from tandem.errors import NotFoundError, TandemError
from tandem.questions import DefinitionsQuestion, ImpactQuestion, ProposalsQuestion
from tandem.server.access import GuardedRoute, access, principal_of
from tandem.server.pages import render
from tandem.server.refusals import INVALID, MAX_ID, NO_NUL, SIGNED_IN, UNREADABLE, Refusal, explain, file_problems
from tandem.server.state import ServerState

router = APIRouter(route_class=GuardedRoute, responses=INVALID)

#: The largest definitions file taken: a real one is a few kilobytes of YAML.
MAX_DOCUMENT_CHARS = 256 * 1024
#: Notes, comments and reasons: a few sentences.
MAX_TEXT_CHARS = 2000

ProposalId = Annotated[int, Path(ge=1, le=MAX_ID, description="The proposal's number.")]


# --- documents ----------------------------------------------------------------------------------------------------
class ProposalIn(BaseModel):
    """A new definitions file proposed on top of the current version."""

    document: str = Field(
        min_length=1, max_length=MAX_DOCUMENT_CHARS, description="The whole definitions file (YAML), as proposed."
    )
    note: str = Field(
        default="",
        max_length=MAX_TEXT_CHARS,
        pattern=NO_NUL,
        description="Why; defaults to the file's version_note.",
    )
    effective_from: date | None = Field(
        default=None, description="The day the new version counts from (today or later); default: the approval day."
    )


class ApprovalIn(BaseModel):
    comment: str = Field(default="", max_length=MAX_TEXT_CHARS, pattern=NO_NUL)


class RejectionIn(BaseModel):
    reason: str = Field(
        min_length=1,
        max_length=MAX_TEXT_CHARS,
        pattern=NO_NUL,
        description="Why: the author and the other side read it. From the author, this withdraws the proposal.",
    )


class OverrideIn(BaseModel):
    reason: str = Field(
        min_length=1,
        max_length=MAX_TEXT_CHARS,
        pattern=NO_NUL,
        description="Why the change may take effect in the quarter's last weeks: both teams read it.",
    )


REFUSALS = SIGNED_IN
NO_PROPOSAL: dict[int | str, dict[str, Any]] = {404: {"model": Refusal, "description": "No such proposal."}}
DECISION_REFUSALS: dict[int | str, dict[str, Any]] = {
    **REFUSALS,
    **UNREADABLE,
    **NO_PROPOSAL,
    403: {
        "model": Refusal,
        "description": "The role lacks the permission, or the workflow does not let the caller do it (approving "
        "their own proposal, not a leader of a side, not an exec); the proposal's ``actions`` say what they may do.",
    },
    409: {
        "model": Refusal,
        "description": "The proposal's state forbids it: closed (approved, rejected, or stale: the definitions "
        "changed since it was made; propose again), its side already approved, already overridden, or waiting for "
        "an exec's override of the guard against quiet loosening.",
    },
    422: {"model": Refusal, "description": "Refused as asked (no reason given); the detail says why."},
}
PROPOSAL_REFUSALS: dict[int | str, dict[str, Any]] = {
    **REFUSALS,
    **UNREADABLE,
    422: {
        "model": Refusal,
        "description": "The file has problems (every one in `problems`, by line and column), or the proposal is "
        "refused as asked (identical to the current version, an effective date in the past). Nothing was stored.",
        "content": {
            "application/json": {
                "example": {
                    "detail": "1 problem in the definitions; nothing was changed.",
                    "problems": [
                        {
                            "line": 12,
                            "column": 20,
                            "problem": "the rule has a syntax error: expected a value after '>='",
                            "hint": "a number, a 'string', true, false or null",
                            "value": None,
                        }
                    ],
                }
            }
        },
    },
}


# --- reading ------------------------------------------------------------------------------------------------------
def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.tandem
    return state


def proposal_document(state: ServerState, principal: Principal, proposal_id: int) -> dict[str, Any]:
    """Everything about one proposal, for `principal`: what ``GET /api/definitions/proposals/{id}`` answers and
    its page shows."""
    return state.answer(ProposalsQuestion.parse(proposal_id=proposal_id, principal=principal))


def impact_document(state: ServerState, proposal_id: int, as_of: str | None = None) -> dict[str, Any]:
    """What the proposal would change on the data (`tandem definitions impact`), through the result cache."""
    return state.answer(ImpactQuestion.parse(proposal_id=proposal_id, as_of=as_of))


def _problems(exc: DefinitionsError) -> dict[str, Any]:
    """A definitions file's problems: the summary line and each problem as {line, column, problem, hint, value}."""
    return {"detail": str(exc).splitlines()[0], "problems": file_problems(exc.issues)}


# --- changing -----------------------------------------------------------------------------------------------------
def _propose(
    state: ServerState, principal: Principal, text: str, note: str, effective_from: date | None
) -> ProposalInfo:
    with state.using_warehouse():  # the file's rules are checked against the leads' columns, read from the warehouse
        return state.workspace.definitions.propose(principal, text, note=note, effective_from=effective_from)


def _decide(state: ServerState, principal: Principal, proposal_id: int, decision: str, text: str) -> ProposalInfo:
    """Approve, reject (the author's reject withdraws) or override; `Governance` refuses what it does not allow."""
    governance = state.workspace.definitions
    if decision == "approve":
        with state.using_warehouse():  # in a freeze window, the guard measures the change on the warehouse
            decided = governance.approve(principal, proposal_id, text)
        if decided.version is not None:
            state.definitions_changed()
        return decided
    if decision == "override":
        with state.using_warehouse():  # the guard's verdict is measured before an override is taken
            return governance.override(principal, proposal_id, text)
    return governance.reject(principal, proposal_id, text)


# --- REST ---------------------------------------------------------------------------------------------------------
@router.get("/api/definitions", openapi_extra=access(Permission.READ), tags=["definitions"], responses=REFUSALS)
def api_definitions(request: Request) -> dict[str, Any]:
    """The definitions as they stand (`tandem definitions history --format json`): ``current``, the newest version
    with its file and parsed stages; ``in_force``, the version results computed now count under; ``versions``,
    every version, oldest first; ``proposals``, every proposal, oldest first, with whom it waits for."""
    return _state(request).answer(DefinitionsQuestion())


@router.get(
    "/api/definitions/proposals", openapi_extra=access(Permission.READ), tags=["definitions"], responses=REFUSALS
)
def api_proposals(request: Request) -> dict[str, Any]:
    """Every proposal in full, oldest first, each as ``GET /api/definitions/proposals/{id}`` gives it (with
    ``actions``: what the caller may do with it); `tandem definitions proposals --format json`."""
    return _state(request).answer(ProposalsQuestion(principal=principal_of(request)))


@router.post(
    "/api/definitions/proposals",
    openapi_extra=access(Permission.PROPOSE),
    tags=["definitions"],
    status_code=201,
    response_model=None,
    responses=PROPOSAL_REFUSALS,
)
def api_propose(request: Request, body: ProposalIn) -> dict[str, Any] | JSONResponse:
    """Propose a new definitions file on top of the current version; it waits for a leader of each side.

    The file is checked in full first, against the leads' columns: every problem comes back at once, by line and
    column, and nothing is stored. The answer is the new proposal's document.
    """
    state = _state(request)
    principal = principal_of(request)
    try:
        proposal = _propose(state, principal, body.document, body.note, body.effective_from)
    except DefinitionsError as exc:  # every problem by line and column, beside the one-line refusal
        return JSONResponse(_problems(exc), status_code=422)
    return proposal_document(state, principal, proposal.id)


@router.get(
    "/api/definitions/proposals/{proposal_id}",
    openapi_extra=access(Permission.READ),
    tags=["definitions"],
    responses={**REFUSALS, **NO_PROPOSAL},
)
def api_proposal(request: Request, proposal_id: ProposalId) -> dict[str, Any]:
    """One proposal (`tandem definitions proposals N --format json`): its status, author, note and effective date;
    what it changes (stage by stage, and the file as a diff against the version it was made on); the decisions so
    far; whom it waits for and who may decide for each side (``leaders``); the quarter-end guard's verdict when it
    counts; the proposed file; and ``actions``, what the caller may do with it now (approve, reject, withdraw,
    override: `tandem.definitions.governance.allowed_actions`)."""
    return proposal_document(_state(request), principal_of(request), proposal_id)


@router.get(
    "/api/definitions/proposals/{proposal_id}/impact",
    openapi_extra=access(Permission.READ),
    tags=["definitions"],
    responses={**REFUSALS, **NO_PROPOSAL},
)
def api_proposal_impact(
    request: Request,
    proposal_id: ProposalId,
    as_of: Annotated[
        str | None, Query(max_length=64, description="Measure on the data as of this moment (ISO 8601, UTC).")
    ] = None,
) -> dict[str, Any]:
    """What the proposal would change on the data, as `tandem definitions impact N`: per stage, the leads it adds
    and removes (over history and this quarter), how the added leads converted beside the others, and the extra
    next-stage entries, won deals and revenue to expect this quarter; ``summary`` says it in sentences."""
    return impact_document(_state(request), proposal_id, as_of)


def _api_decision(request: Request, proposal_id: int, decision: str, text: str) -> dict[str, Any]:
    state = _state(request)
    principal = principal_of(request)
    decided = _decide(state, principal, proposal_id, decision, text)
    return proposal_document(state, principal, decided.id)


@router.post(
    "/api/definitions/proposals/{proposal_id}/approve",
    openapi_extra=access(Permission.DECIDE),
    tags=["definitions"],
    responses=DECISION_REFUSALS,
)
def api_approve(request: Request, proposal_id: ProposalId, body: ApprovalIn) -> dict[str, Any]:
    """Approve for your side (a marketing or sales leader, not the author). The second side's approval makes the
    new version at once: ``version`` names it, and ``GET /api/definitions`` shows it as current."""
    return _api_decision(request, proposal_id, "approve", body.comment)


@router.post(
    "/api/definitions/proposals/{proposal_id}/reject",
    openapi_extra=access(Permission.DECIDE),
    tags=["definitions"],
    responses=DECISION_REFUSALS,
)
def api_reject(request: Request, proposal_id: ProposalId, body: RejectionIn) -> dict[str, Any]:
    """Reject with a reason (any marketing or sales leader: one side saying no closes it), or withdraw your own."""
    return _api_decision(request, proposal_id, "reject", body.reason)


@router.post(
    "/api/definitions/proposals/{proposal_id}/override",
    openapi_extra=access(Permission.DECIDE),
    tags=["definitions"],
    responses=DECISION_REFUSALS,
)
def api_override(request: Request, proposal_id: ProposalId, body: OverrideIn) -> dict[str, Any]:
    """An exec (not the author) lets a proposal past the quarter-end guard, with a reason both teams read.

    Taken while the guard holds the proposal back: it loosens a marketing stage and takes effect in the last weeks
    of a quarter (``guard`` says so, ``waiting_for`` names "exec" and ``actions`` offers "override"); the leaders'
    approvals are still needed.
    """
    return _api_decision(request, proposal_id, "override", body.reason)


@router.get(
    "/api/definitions/{definition_version}",
    openapi_extra=access(Permission.READ),
    tags=["definitions"],
    responses={**REFUSALS, 404: {"model": Refusal, "description": "No such version; the detail says which exist."}},
)
def api_definition(
    request: Request,
    # Named apart from the funnel's ``definitions`` parameter (the question's `version`): a refusal names it "version".
    definition_version: Annotated[int, Path(ge=1, le=MAX_ID, description="The version number.")],
) -> dict[str, Any]:
    """One definitions version (`tandem definitions show --version N --format json`): its stages, who made it and
    when, why, the day it counts from, the proposal it came from, the file and its parsed stages."""
    return _state(request).answer(DefinitionsQuestion.parse(version=definition_version))


# --- pages --------------------------------------------------------------------------------------------------------
#: The notice after a change, chosen by the `done` query parameter (never user text: the page fills in the facts).
DONE = ("proposed", "approved", "rejected", "withdrawn", "overridden")


def _definitions_page(request: Request, status_code: int = 200, **context: Any) -> HTMLResponse:
    state = _state(request)
    definitions = state.answer(DefinitionsQuestion())
    draft = context.pop("draft", None) or {
        "document": definitions["current"]["document"],
        "note": "",
        "effective_from": "",
    }
    can_propose = "propose" in allowed_actions(principal_of(request))
    builder = context.pop("builder", None)
    if can_propose and definitions["current"]:
        builder = builder_view(state, definitions["current"], builder)
    return render(
        request,
        "definitions.html",
        status_code,
        title="Definitions",
        definitions=definitions,
        signal=_signal_or_reason(state),
        rejections=_rejections_by_version(state),
        can_propose=can_propose,
        builder=builder,
        draft=draft,
        today=datetime.now(UTC).date().isoformat(),  # Governance's today: UTC
        max_document=MAX_DOCUMENT_CHARS,
        **context,
    )


def _rejections_by_version(state: ServerState) -> dict[str, Any]:
    """Sales' verdict on the leads each version admitted (the SLA document's rejections by definitions version,
    against the contract's ceiling): evidence for the next review, or why there is none."""
    from tandem.questions import SlaQuestion

    try:
        document = state.answer(SlaQuestion(open_limit=0))
    except TandemError as error:
        return {"versions": [], "unavailable": str(error)}
    return {"versions": document["rejections"]["version"], "ceiling": document["rejection_ceiling_percent"]}


def _signal_or_reason(state: ServerState) -> dict[str, Any]:
    """The weekly loosening signal for the page, or why it cannot be computed (the page still shows the rest)."""
    from tandem.server.routes.definition_insights import signal_document

    try:
        return signal_document(state)
    except TandemError as error:
        return {"status": "unavailable", "sentence": str(error), "weeks": [], "reasons": []}


@router.get("/definitions", response_class=HTMLResponse, openapi_extra=access(Permission.READ), include_in_schema=False)
def definitions_page(request: Request) -> HTMLResponse:
    return _definitions_page(request)


def _uploaded_text(upload: UploadFile | None) -> str | None:
    """The chosen file's text, or None when no file was chosen; `GovernanceInvalid` when it is unusable."""
    if upload is None or not upload.filename:
        return None
    data = upload.file.read(MAX_DOCUMENT_CHARS + 1)
    if len(data) > MAX_DOCUMENT_CHARS:
        raise GovernanceInvalid(
            f"{upload.filename} is over {MAX_DOCUMENT_CHARS // 1024} KiB; a definitions file is a few kilobytes of YAML"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise GovernanceInvalid(f"{upload.filename} is not UTF-8 text; a definitions file is YAML") from None


@router.post(
    "/definitions/proposals",
    response_class=HTMLResponse,
    openapi_extra=access(Permission.PROPOSE),
    include_in_schema=False,
)
def propose_from_page(
    request: Request,
    document: Annotated[str, Form(max_length=MAX_DOCUMENT_CHARS)] = "",
    file: Annotated[UploadFile | None, File()] = None,
    note: Annotated[str, Form(max_length=MAX_TEXT_CHARS)] = "",
    effective_from: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    state = _state(request)
    draft = {"document": document, "note": note, "effective_from": effective_from}
    try:
        uploaded = _uploaded_text(file)
        text = (uploaded if uploaded is not None else document).replace("\r\n", "\n")
        draft["document"] = text  # the form comes back with the file as it was checked, to fix in place
        if not text.strip():
            raise GovernanceInvalid("paste the definitions file into the text box, or choose a file")
        try:
            day = date.fromisoformat(effective_from) if effective_from.strip() else None
        except ValueError:
            raise GovernanceInvalid(
                f"{effective_from!r} is not a date; use YYYY-MM-DD, or leave it empty",
                field="effective_from",
                value=effective_from,
            ) from None
        proposal = _propose(state, principal_of(request), text, note.replace("\x00", ""), day)
    except DefinitionsError as exc:
        problems = {"detail": _problems(exc)["detail"], "issues": _problems(exc)["problems"]}
        return _definitions_page(request, 422, draft=draft, problems=problems)
    except TandemError as exc:  # the form again, with what was typed, saying why
        status, sentence = explain(exc)
        return _definitions_page(request, status, draft=draft, error=sentence)
    return RedirectResponse(f"/definitions/proposals/{proposal.id}?done=proposed", status_code=303)


# --- the rule builder -------------------------------------------------------------------------------------------
#: Condition rows the builder shows at least (blank ones are left out of the rule).
MIN_CONDITION_ROWS = 2
MAX_CONDITION_ROWS = 50


def lead_columns(state: ServerState) -> dict[str, str]:
    """The leads' columns (name to tandem column type), as proposals are checked against; {} when the warehouse
    cannot say (no leads imported yet): the builder then takes a typed column name."""
    columns = state.workspace.definitions.columns
    if columns is None:
        return {}
    try:
        with state.warehouse_lock:
            return dict(columns())
    except TandemError:
        return {}


def _builder_form(current: dict[str, Any]) -> dict[str, Any]:
    """The builder as it starts: the first stage with a rule (else the second), its rule read back into parts."""
    stages = current["definitions"]["stages"]
    ruled = [s for s in stages if s.get("rule")]
    stage = ruled[0] if ruled else stages[min(1, len(stages) - 1)]
    return _form_of(stage["name"], decompose_rule(stage.get("rule")))


def _form_of(stage: str, parts: RuleParts | None) -> dict[str, Any]:
    return {
        "stage": stage,
        "readable": parts is not None,
        "conditions": [c.__dict__ for c in (parts.conditions if parts else ())],
        "activity": (parts.activity if parts else Activity()).__dict__,
        "score": parts.score if parts else "",
        "note": "",
        "effective_from": "",
    }


def builder_view(state: ServerState, current: dict[str, Any], posted: dict[str, Any] | None) -> dict[str, Any]:
    """What the Definitions page's rule builder shows: the stages and their rules, the leads' columns, the form (as
    posted, or from the current rule), and the rule it writes (or why it cannot)."""
    columns = lead_columns(state)
    form = posted or _builder_form(current)
    rows = list(form["conditions"])
    rows += [{"field": "", "operator": "=", "value": ""}] * max(0, MIN_CONDITION_ROWS - len(rows))
    if form.get("add_condition"):
        rows.append({"field": "", "operator": "=", "value": ""})
    stages = current["definitions"]["stages"]
    kinds = sorted({b["event"] for b in (current["definitions"].get("scoring") or {}).get("behaviour", [])})
    view = {
        **form,
        "conditions": rows,
        "stages": [{"name": s["name"], "rule": s.get("rule") or ""} for s in stages],
        "columns": sorted(columns.items()),
        "operators": OPERATORS,
        "kinds": kinds,
        "rule": form.get("rule"),
        "error": form.get("error", ""),
    }
    if view["rule"] is None:
        try:
            view["rule"] = compose_rule(_parts_of(form), columns)
        except TandemError as exc:
            view["rule"], view["error"] = "", view["error"] or str(exc)
    return view


def _parts_of(form: dict[str, Any]) -> RuleParts:
    conditions = tuple(Condition(**c) for c in form["conditions"])
    return RuleParts(conditions, Activity(**form["activity"]), form["score"])


def _posted_builder(
    stage: str,
    fields: list[str],
    operators: list[str],
    values: list[str],
    activity: tuple[str, str, str],
    score: str,
) -> dict[str, Any]:
    count = min(max(len(fields), len(operators), len(values)), MAX_CONDITION_ROWS)

    def at(items: list[str], i: int, default: str = "") -> str:
        return items[i].replace("\x00", "") if i < len(items) else default

    kind, at_least, days = (a.replace("\x00", "") for a in activity)
    return {
        "stage": stage.strip(),
        "readable": True,
        "conditions": [
            {"field": at(fields, i), "operator": at(operators, i, "="), "value": at(values, i)} for i in range(count)
        ],
        "activity": {"kind": kind, "count": at_least, "days": days},
        "score": score.replace("\x00", ""),
    }


def document_with_rule(state: ServerState, current: dict[str, Any], form: dict[str, Any]) -> tuple[str, str]:
    """(the rule, the definitions file with it): the current file with the chosen stage's rule set to what the
    builder writes, everything else as it was. `ConfigError` naming the input at fault."""
    if form["stage"] not in [s["name"] for s in current["definitions"]["stages"]]:
        raise GovernanceInvalid(f"{form['stage']!r} is not a stage; choose one of the current definitions' stages")
    rule = compose_rule(_parts_of(form), lead_columns(state))
    return rule, with_stage_rule(current["document"], form["stage"], rule)


BuilderColumn = Annotated[list[str], Form(max_length=MAX_TEXT_CHARS)]
BuilderText = Annotated[str, Form(max_length=MAX_TEXT_CHARS)]


@router.post(
    "/definitions/proposals/rule",
    response_class=HTMLResponse,
    openapi_extra=access(Permission.PROPOSE),
    include_in_schema=False,
)
def propose_from_builder(
    request: Request,
    stage: Annotated[str, Form(max_length=200)] = "",
    field: BuilderColumn = [],  # noqa: B006 - FastAPI copies the default
    operator: BuilderColumn = [],  # noqa: B006
    value: BuilderColumn = [],  # noqa: B006
    activity_kind: BuilderText = "",
    activity_count: BuilderText = "",
    activity_days: BuilderText = "",
    score: BuilderText = "",
    note: BuilderText = "",
    effective_from: Annotated[str, Form(max_length=40)] = "",
    action: Annotated[str, Form(max_length=20)] = "propose",
) -> Response:
    """The Definitions page's rule builder: a stage's entry rule from conditions, an activity window and a score
    threshold, written into the current definitions file (`with_stage_rule`) and proposed as that file, through
    the same `Governance.propose` as the YAML editor (impact report, guard, approvals). "Preview" and "Add a
    condition" come back to the page with the rule and the file it writes, nothing proposed."""
    state = _state(request)
    current = state.answer(DefinitionsQuestion())["current"]
    form = _posted_builder(stage, field, operator, value, (activity_kind, activity_count, activity_days), score)
    form.update(note=note.replace("\x00", ""), effective_from=effective_from, add_condition=action == "add")
    draft = {"document": current["document"], "note": form["note"], "effective_from": effective_from}
    try:
        rule, document = document_with_rule(state, current, form)
        form["rule"] = rule
        draft["document"] = document  # the advanced view shows the file the builder writes
        if action != "propose":
            return _definitions_page(request, draft=draft, builder=form)
        try:
            day = date.fromisoformat(effective_from) if effective_from.strip() else None
        except ValueError:
            raise GovernanceInvalid(
                f"{effective_from!r} is not a date; use YYYY-MM-DD, or leave it empty",
                field="effective_from",
                value=effective_from,
            ) from None
        proposal = _propose(state, principal_of(request), document, form["note"], day)
    except DefinitionsError as exc:
        problems = _problems(exc)
        form["error"] = "; ".join(
            f"{p['problem']}" + (f" ({p['hint']})" if p["hint"] else "") for p in problems["problems"]
        )
        return _definitions_page(request, 422, draft=draft, builder=form)
    except TandemError as exc:
        status, sentence = explain(exc)
        form["error"] = sentence
        return _definitions_page(request, status, draft=draft, builder=form)
    return RedirectResponse(f"/definitions/proposals/{proposal.id}?done=proposed", status_code=303)


@router.get(
    "/definitions/rule-preview",
    openapi_extra=access(Permission.PROPOSE),
    include_in_schema=False,
)
def rule_preview(
    request: Request,
    field: Annotated[list[str] | None, Query()] = None,
    operator: Annotated[list[str] | None, Query()] = None,
    value: Annotated[list[str] | None, Query()] = None,
    activity_kind: Annotated[str, Query(max_length=MAX_TEXT_CHARS)] = "",
    activity_count: Annotated[str, Query(max_length=MAX_TEXT_CHARS)] = "",
    activity_days: Annotated[str, Query(max_length=MAX_TEXT_CHARS)] = "",
    score: Annotated[str, Query(max_length=MAX_TEXT_CHARS)] = "",
) -> dict[str, str]:
    """The rule the builder's inputs write (for the page's live preview: tandem.js asks as the inputs change), or
    why it cannot be written; the same `compose_rule` as proposing."""
    form = _posted_builder(
        "", field or [], operator or [], value or [], (activity_kind, activity_count, activity_days), score
    )
    try:
        return {"rule": compose_rule(_parts_of(form), lead_columns(_state(request))), "error": ""}
    except TandemError as exc:
        return {"rule": "", "error": str(exc)}


def _proposal_page(request: Request, proposal_id: int, status_code: int = 200, **context: Any) -> HTMLResponse:
    state = _state(request)
    proposal = proposal_document(state, principal_of(request), proposal_id)
    try:
        impact, impact_error = impact_document(state, proposal_id), ""
    except TandemError as exc:  # the page still shows the proposal, and says why its impact is missing
        impact, impact_error = None, str(exc)
    return render(
        request,
        "definition_proposal.html",
        status_code,
        title=f"Proposal #{proposal_id}",
        proposal=proposal,
        impact=impact,
        impact_error=impact_error,
        kept=context.pop("kept", {}),
        **context,
    )


@router.get(
    "/definitions/proposals/{proposal_id}",
    response_class=HTMLResponse,
    openapi_extra=access(Permission.READ),
    include_in_schema=False,
)
def proposal_page(request: Request, proposal_id: ProposalId, done: str = "") -> HTMLResponse:
    return _proposal_page(request, proposal_id, done=done if done in DONE else "")


def _page_decision(request: Request, proposal_id: int, decision: str, text: str) -> Response:
    state = _state(request)
    principal = principal_of(request)
    try:
        decided = _decide(state, principal, proposal_id, decision, text)
    except NotFoundError:
        raise
    except TandemError as exc:  # the proposal's page again, saying why, with the text kept to retry
        status, sentence = explain(exc)
        kept = {{"approve": "comment", "reject": "reason"}.get(decision, decision): text}
        return _proposal_page(request, proposal_id, status, error=sentence, kept=kept)
    if decision == "reject":
        done = "withdrawn" if decided.author == principal.username else "rejected"
    else:
        done = "approved" if decision == "approve" else "overridden"
    return RedirectResponse(f"/definitions/proposals/{proposal_id}?done={done}", status_code=303)


@router.post(
    "/definitions/proposals/{proposal_id}/approve",
    response_class=HTMLResponse,
    openapi_extra=access(Permission.DECIDE),
    include_in_schema=False,
)
def approve_from_page(
    request: Request, proposal_id: ProposalId, comment: Annotated[str, Form(max_length=MAX_TEXT_CHARS)] = ""
) -> Response:
    return _page_decision(request, proposal_id, "approve", comment.replace("\x00", ""))


@router.post(
    "/definitions/proposals/{proposal_id}/reject",
    response_class=HTMLResponse,
    openapi_extra=access(Permission.DECIDE),
    include_in_schema=False,
)
def reject_from_page(
    request: Request, proposal_id: ProposalId, reason: Annotated[str, Form(max_length=MAX_TEXT_CHARS)] = ""
) -> Response:
    return _page_decision(request, proposal_id, "reject", reason.replace("\x00", ""))


@router.post(
    "/definitions/proposals/{proposal_id}/override",
    response_class=HTMLResponse,
    openapi_extra=access(Permission.DECIDE),
    include_in_schema=False,
)
def override_from_page(
    request: Request, proposal_id: ProposalId, reason: Annotated[str, Form(max_length=MAX_TEXT_CHARS)] = ""
) -> Response:
    return _page_decision(request, proposal_id, "override", reason.replace("\x00", ""))
