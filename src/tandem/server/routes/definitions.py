"""The Definitions page and its REST endpoints: the funnel stages every figure is computed under, and their history.

Every result names the definition version that produced it, so the page shows each version as it was: its stages
in order, who created it, when and why. Versions are read straight from the application database.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from tandem.accounts import Permission
from tandem.server.access import GuardedRoute, NotFound, access
from tandem.server.pages import render
from tandem.store.models import DefinitionVersion
from tandem.workspace import Workspace

router = APIRouter(route_class=GuardedRoute)


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


@router.get("/definitions", response_class=HTMLResponse, openapi_extra=access(Permission.READ), include_in_schema=False)
def definitions_page(request: Request) -> HTMLResponse:
    workspace = request.app.state.tandem.workspace
    history = definition_history(workspace)
    return render(
        request,
        "definitions.html",
        title="Definitions",
        current=history[0] if history else None,
        current_file=workspace.definitions.current(),
        history=history,
        proposals=proposals_of(workspace),
    )
