"""The Definitions page and its REST endpoints: the funnel stages every figure is computed under, their history,
and changes to them as proposals that a leader of each side approves.

Every result names the definition version that produced it, so the page shows each version as it was: its stages
in order, who created it, when and why. Versions are read straight from the application database.

A change goes through `tandem.definitions.governance.Governance`, as on the command line: marketing and sales users
propose (`Permission.PROPOSE`); the coarse gate for deciding is `Permission.DECIDE`, and `Governance` itself decides
who exactly may approve (a leader of a side that has not approved yet, never the author) and reject (any leader;
the author withdraws). What it refuses is answered, never hidden:

- a definitions file with problems: 422, every problem with its line and column (``problems``); nothing stored;
- a refusal as asked (a past effective date, a proposal identical to the current version, self-approval, a second
  approval for one side, someone who is not a leader): 422 with the reason;
- a decision on a proposal that is no longer open (approved, rejected, or stale because the definitions changed
  under it, which the refused approval itself may have found): 409, since only a new proposal can go on;
- an unknown proposal: 404.
"""

from __future__ import annotations

import difflib
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from tandem.accounts import Permission, Principal, Role
from tandem.definitions.governance import Governance, GovernanceError, ProposalInfo
from tandem.definitions.guard import GuardVerdict, freeze_window
from tandem.definitions.model import DefinitionsError
from tandem.errors import TandemError
from tandem.questions import parse_moment
from tandem.server.access import GuardedRoute, NotFound, access, principal_of
from tandem.server.pages import render
from tandem.server.refusals import INVALID, MAX_ID, NO_NUL, SIGNED_IN, UNREADABLE, Refusal, file_problems
from tandem.server.state import ServerState
from tandem.store.models import DefinitionVersion
from tandem.workspace import Workspace

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
DECISION_REFUSALS: dict[int | str, dict[str, Any]] = {
    **REFUSALS,
    **UNREADABLE,
    404: {"model": Refusal, "description": "No such proposal."},
    409: {
        "model": Refusal,
        "description": "The proposal is no longer open (approved, rejected, or stale: the definitions changed "
        "since it was made); propose again.",
    },
    422: {
        "model": Refusal,
        "description": "Refused as asked (self-approval, a second approval for one side, not a leader, no reason, "
        "the quarter-end guard waiting for an exec's override); the detail says why. Nothing changed.",
    },
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
def _document(row: DefinitionVersion) -> dict[str, Any]:
    return {
        "version": row.version,
        "stages": list(row.stages),
        "created_at": row.created_at,
        "created_by": row.created_by,
        "note": row.note,
    }


def definition_history(workspace: Workspace) -> list[dict[str, Any]]:
    """Every definition version, newest (the current one) first."""
    with workspace.store.session() as session:
        rows = session.scalars(select(DefinitionVersion).order_by(DefinitionVersion.version.desc())).all()
        return [_document(row) for row in rows]


def proposals_of(workspace: Workspace) -> list[dict[str, Any]]:
    """Every proposal, newest first, with its status, decisions, what it changes and whom it waits for."""
    proposals = sorted(workspace.definitions.proposals(), key=lambda p: p.id, reverse=True)
    return [{**p.as_dict(), "waiting_for": p.waiting_for, "document": p.document} for p in proposals]


def actions_of(principal: Principal, proposal: ProposalInfo, guard: GuardVerdict | None = None) -> list[str]:
    """What `principal` may do with `proposal` now: "approve", "reject", "withdraw" (the author's reject), and for
    an exec, "override" when the quarter-end `guard` holds the proposal back.

    Mirrors `Governance`'s rules so that pages show only the buttons that work; `Governance` still decides.
    """
    if proposal.status != "open" or not principal.may(Permission.DECIDE):
        return []
    if principal.username == proposal.author:
        return ["withdraw"]
    if principal.role == Role.EXEC:
        return ["override"] if guard is not None and guard.blocked else []
    if not principal.is_leader or principal.role not in (Role.MARKETING, Role.SALES):
        return []
    side = str(principal.role)
    return ["approve", "reject"] if proposal.approved_by(side) is None else ["reject"]


def _leaders(workspace: Workspace, proposal: ProposalInfo) -> dict[str, list[str]]:
    """For each side the proposal waits for, who may decide for it: its leaders (enabled, not the author), or for
    an override the proposal may come to wait for ("exec"), every enabled exec."""
    users = [u for u in workspace.accounts.users() if not u.disabled and u.username != proposal.author]
    return {
        side: sorted(u.username for u in users if u.role == side and (u.is_leader or side == Role.EXEC))
        for side in proposal.waiting_for
    }


def _file_diff(governance: Governance, proposal: ProposalInfo) -> list[str]:
    """The proposed file against the version it was proposed on, as unified diff lines."""
    try:
        base = governance.version(proposal.base_version).document
    except GovernanceError:  # pragma: no cover - versions are never deleted
        return []
    return list(
        difflib.unified_diff(
            base.splitlines(),
            proposal.document.splitlines(),
            f"version {proposal.base_version}",
            f"proposal #{proposal.id}",
            lineterm="",
        )
    )


def guard_of(state: ServerState, proposal: ProposalInfo) -> GuardVerdict | None:
    """The quarter-end guard's verdict on an open proposal that takes effect inside a freeze window; None otherwise.

    Outside the window nothing needs an override, so nothing is measured; inside it the verdict measures on the
    warehouse (leads each stage would gain), as the approval that completes the version does.
    """
    governance = state.workspace.definitions
    if proposal.status != "open":
        return None
    effective = proposal.effective_from or datetime.now(UTC).date()  # Governance's today: UTC
    window = freeze_window(effective, governance.freeze_weeks)
    if window is None or not window[0] <= effective <= window[1]:
        return None
    with state.warehouse_lock:
        return governance.guard(proposal.id)


def proposal_document(state: ServerState, principal: Principal, proposal: ProposalInfo) -> dict[str, Any]:
    """Everything about one proposal: what `GET /api/definitions/proposals/{id}` answers and the page shows."""
    guard = guard_of(state, proposal)
    known = replace(proposal, guard=guard)  # waits for an exec too while the guard holds it back
    return {
        **known.as_dict(),
        "waiting_for": known.waiting_for,
        "leaders": _leaders(state.workspace, known),
        "document": proposal.document,
        "diff": _file_diff(state.workspace.definitions, proposal),
        "guard_message": guard.message if guard is not None else None,
        "actions": actions_of(principal, proposal, guard),
    }


def impact_of(state: ServerState, proposal_id: int, as_of: datetime | None = None) -> dict[str, Any]:
    """What the proposal would change on the data (`Workspace.proposal_impact`: leads added and removed per stage,
    how the added ones converted, the expected effect this quarter), through the server's result cache."""

    def compute() -> dict[str, Any]:
        return state.workspace.proposal_impact(proposal_id, as_of=as_of).as_dict()

    document: dict[str, Any] = state.cached("definitions.impact", {"proposal": proposal_id, "as_of": as_of}, compute)
    return document


def _proposal(workspace: Workspace, proposal_id: int) -> ProposalInfo:
    """The proposal, or 404 (`Governance` says "no proposal" with the same error as every other refusal)."""
    try:
        return workspace.definitions.proposal(proposal_id)
    except GovernanceError as exc:
        raise NotFound(str(exc)) from None


def _problems(exc: DefinitionsError) -> list[dict[str, Any]]:
    """Each problem of a definitions file as {line, column, problem, hint, value}."""
    return file_problems(exc.issues)


def _summary(exc: DefinitionsError) -> str:
    return str(exc).splitlines()[0]


# --- changing -----------------------------------------------------------------------------------------------------
def _propose(
    state: ServerState, principal: Principal, text: str, note: str, effective_from: date | None
) -> ProposalInfo:
    with state.warehouse_lock:  # the file's rules are checked against the leads' columns, read from the warehouse
        return state.workspace.definitions.propose(principal, text, note=note, effective_from=effective_from)


def _decide(state: ServerState, principal: Principal, proposal_id: int, decision: str, text: str) -> ProposalInfo:
    """Approve, reject (the author's reject withdraws) or override; raises `NotFound` or `GovernanceError`."""
    governance = state.workspace.definitions
    _proposal(state.workspace, proposal_id)
    if decision == "approve":
        with state.warehouse_lock:  # in a freeze window, the guard measures the change on the warehouse
            decided = governance.approve(principal, proposal_id, text)
        if decided.version is not None:
            state.definitions_changed()
        return decided
    if decision == "override":
        return governance.override(principal, proposal_id, text)
    return governance.reject(principal, proposal_id, text)


def _refusal_status(state: ServerState, proposal_id: int) -> int:
    """409 when the proposal is closed (only a new one can go on), 422 when it is open and the request was wrong."""
    return 409 if state.workspace.definitions.proposal(proposal_id).status != "open" else 422


# --- REST ---------------------------------------------------------------------------------------------------------
@router.get("/api/definitions", openapi_extra=access(Permission.READ), tags=["definitions"])
def api_definitions(request: Request) -> dict[str, Any]:
    """The current funnel definitions (stages in order, and the file), every earlier version, and the proposals."""
    workspace = request.app.state.tandem.workspace
    history = definition_history(workspace)
    current = workspace.definitions.current()
    return {
        "current": {**history[0], "document": current.document} if history else None,
        "history": history,
        "proposals": proposals_of(workspace),
    }


@router.get(
    "/api/definitions/proposals", openapi_extra=access(Permission.READ), tags=["definitions"], responses=REFUSALS
)
def api_proposals(request: Request) -> dict[str, Any]:
    """Every proposal, newest first: status, author, note, effective date, changes, decisions, whom it waits for."""
    return {"proposals": proposals_of(request.app.state.tandem.workspace)}


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
    column, and nothing is stored.
    """
    state: ServerState = request.app.state.tandem
    principal = principal_of(request)
    try:
        proposal = _propose(state, principal, body.document, body.note, body.effective_from)
    except DefinitionsError as exc:
        return JSONResponse({"detail": _summary(exc), "problems": _problems(exc)}, status_code=422)
    except GovernanceError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422)
    return proposal_document(state, principal, proposal)


@router.get(
    "/api/definitions/proposals/{proposal_id}",
    openapi_extra=access(Permission.READ),
    tags=["definitions"],
    responses={**REFUSALS, 404: {"model": Refusal, "description": "No such proposal."}},
)
def api_proposal(request: Request, proposal_id: ProposalId) -> dict[str, Any]:
    """One proposal: its status, author, note and effective date; what it changes (stage by stage, and the file as
    a diff against the version it was made on); the decisions so far; whom it waits for and which leaders may
    approve; the proposed file; and what the caller may do with it (``actions``)."""
    state: ServerState = request.app.state.tandem
    return proposal_document(state, principal_of(request), _proposal(state.workspace, proposal_id))


@router.get(
    "/api/definitions/proposals/{proposal_id}/impact",
    openapi_extra=access(Permission.READ),
    tags=["definitions"],
    responses={
        **REFUSALS,
        400: {"model": Refusal, "description": "A bad as_of."},
        404: {"model": Refusal, "description": "No such proposal."},
    },
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
    state: ServerState = request.app.state.tandem
    moment = parse_moment(as_of, "as_of")
    _proposal(state.workspace, proposal_id)
    return impact_of(state, proposal_id, moment)


def _api_decision(request: Request, proposal_id: int, decision: str, text: str) -> dict[str, Any] | JSONResponse:
    state: ServerState = request.app.state.tandem
    principal = principal_of(request)
    try:
        decided = _decide(state, principal, proposal_id, decision, text)
    except GovernanceError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=_refusal_status(state, proposal_id))
    return proposal_document(state, principal, decided)


@router.post(
    "/api/definitions/proposals/{proposal_id}/approve",
    openapi_extra=access(Permission.DECIDE),
    tags=["definitions"],
    response_model=None,
    responses=DECISION_REFUSALS,
)
def api_approve(request: Request, proposal_id: ProposalId, body: ApprovalIn) -> dict[str, Any] | JSONResponse:
    """Approve for your side (a marketing or sales leader, not the author). The second side's approval makes the
    new version at once: ``version`` names it, and ``GET /api/definitions`` shows it as current."""
    return _api_decision(request, proposal_id, "approve", body.comment)


@router.post(
    "/api/definitions/proposals/{proposal_id}/reject",
    openapi_extra=access(Permission.DECIDE),
    tags=["definitions"],
    response_model=None,
    responses=DECISION_REFUSALS,
)
def api_reject(request: Request, proposal_id: ProposalId, body: RejectionIn) -> dict[str, Any] | JSONResponse:
    """Reject with a reason (any marketing or sales leader: one side saying no closes it), or withdraw your own."""
    return _api_decision(request, proposal_id, "reject", body.reason)


@router.post(
    "/api/definitions/proposals/{proposal_id}/override",
    openapi_extra=access(Permission.DECIDE),
    tags=["definitions"],
    response_model=None,
    responses=DECISION_REFUSALS,
)
def api_override(request: Request, proposal_id: ProposalId, body: OverrideIn) -> dict[str, Any] | JSONResponse:
    """An exec (not the author) lets a proposal past the quarter-end guard, with a reason both teams read.

    Needed when a change loosens a marketing stage and takes effect in the last weeks of a quarter (``guard``
    says so, and ``waiting_for`` names "exec"); the leaders' approvals are still needed.
    """
    return _api_decision(request, proposal_id, "override", body.reason)


@router.get(
    "/api/definitions/{version}",
    openapi_extra=access(Permission.READ),
    tags=["definitions"],
    responses={404: {"description": "No such version; the detail lists the versions there are."}},
)
def api_definition(
    request: Request, version: Annotated[int, Path(ge=1, le=2**31 - 1, description="The version number.")]
) -> dict[str, Any]:
    """One definition version: the stages results computed under it used."""
    with request.app.state.tandem.workspace.store.session() as session:
        row = session.get(DefinitionVersion, version)
        if row is None:
            known = session.scalars(select(DefinitionVersion.version).order_by(DefinitionVersion.version)).all()
            raise NotFound(f"no definition version {version}; versions: {', '.join(map(str, known)) or 'none'}")
        return _document(row)


# --- pages --------------------------------------------------------------------------------------------------------
#: The notice after a change, chosen by the `done` query parameter (never user text: the page fills in the facts).
DONE = ("proposed", "approved", "rejected", "withdrawn", "overridden")


def _definitions_page(request: Request, status_code: int = 200, **context: Any) -> HTMLResponse:
    workspace = request.app.state.tandem.workspace
    history = definition_history(workspace)
    current = workspace.definitions.current()
    draft = context.pop("draft", None) or {"document": current.document, "note": "", "effective_from": ""}
    return render(
        request,
        "definitions.html",
        status_code,
        title="Definitions",
        current=history[0] if history else None,
        current_file=current,
        history=history,
        proposals=proposals_of(workspace),
        signal=_signal_or_reason(request),
        can_propose=principal_of(request).may(Permission.PROPOSE),
        draft=draft,
        today=datetime.now(UTC).date().isoformat(),  # Governance's today: UTC
        max_document=MAX_DOCUMENT_CHARS,
        **context,
    )


def _signal_or_reason(request: Request) -> dict[str, Any]:
    """The weekly loosening signal for the page, or why it cannot be computed (the page still shows the rest)."""
    from tandem.server.routes.definition_insights import signal_document

    try:
        return signal_document(request.app.state.tandem)
    except TandemError as error:
        return {"status": "unavailable", "sentence": str(error), "weeks": [], "reasons": []}


@router.get("/definitions", response_class=HTMLResponse, openapi_extra=access(Permission.READ), include_in_schema=False)
def definitions_page(request: Request) -> HTMLResponse:
    return _definitions_page(request)


def _uploaded_text(upload: UploadFile | None) -> str | None:
    """The chosen file's text, or None when no file was chosen; raises `GovernanceError` when it is unusable."""
    if upload is None or not upload.filename:
        return None
    data = upload.file.read(MAX_DOCUMENT_CHARS + 1)
    if len(data) > MAX_DOCUMENT_CHARS:
        raise GovernanceError(
            f"{upload.filename} is over {MAX_DOCUMENT_CHARS // 1024} KiB; a definitions file is a few kilobytes of YAML"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise GovernanceError(f"{upload.filename} is not UTF-8 text; a definitions file is YAML") from None


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
    state: ServerState = request.app.state.tandem
    draft = {"document": document, "note": note, "effective_from": effective_from}
    try:
        uploaded = _uploaded_text(file)
        text = (uploaded if uploaded is not None else document).replace("\r\n", "\n")
        draft["document"] = text  # the form comes back with the file as it was checked, to fix in place
        if not text.strip():
            raise GovernanceError("paste the definitions file into the text box, or choose a file")
        try:
            day = date.fromisoformat(effective_from) if effective_from.strip() else None
        except ValueError:
            raise GovernanceError(f"{effective_from!r} is not a date; use YYYY-MM-DD, or leave it empty") from None
        proposal = _propose(state, principal_of(request), text, note.replace("\x00", ""), day)
    except DefinitionsError as exc:
        problems = {"detail": _summary(exc), "issues": _problems(exc)}
        return _definitions_page(request, 422, draft=draft, problems=problems)
    except GovernanceError as exc:
        return _definitions_page(request, 422, draft=draft, error=str(exc))
    return RedirectResponse(f"/definitions/proposals/{proposal.id}?done=proposed", status_code=303)


def _proposal_page(request: Request, proposal_id: int, status_code: int = 200, **context: Any) -> HTMLResponse:
    state: ServerState = request.app.state.tandem
    proposal = proposal_document(state, principal_of(request), _proposal(state.workspace, proposal_id))
    try:
        impact, impact_error = impact_of(state, proposal_id), ""
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
    state: ServerState = request.app.state.tandem
    principal = principal_of(request)
    try:
        decided = _decide(state, principal, proposal_id, decision, text)
    except GovernanceError as exc:
        status = _refusal_status(state, proposal_id)
        kept = {{"approve": "comment", "reject": "reason"}.get(decision, decision): text}  # the text, to retry
        return _proposal_page(request, proposal_id, status, error=str(exc), kept=kept)
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
