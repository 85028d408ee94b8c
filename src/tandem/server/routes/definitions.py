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


@router.get("/api/definitions", openapi_extra=access(Permission.READ), tags=["definitions"])
def api_definitions(request: Request) -> dict[str, Any]:
    """The current funnel definitions (stages in order) and every earlier version, newest first."""
    history = definition_history(request.app.state.tandem.workspace)
    return {"current": history[0] if history else None, "history": history}


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
    history = definition_history(request.app.state.tandem.workspace)
    return render(
        request,
        "definitions.html",
        title="Definitions",
        current=history[0] if history else None,
        history=history,
    )
