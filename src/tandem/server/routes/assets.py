"""Files the pages load, all served by tandem itself: stylesheet, script, the Vega bundle, the API docs."""

from __future__ import annotations

import threading
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from tandem.accounts import Permission
from tandem.server.access import GuardedRoute, access

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)

STATIC = Path(str(resources.files("tandem.server") / "static"))
OWN_FILES = {
    "tandem.css": "text/css",
    "tandem.js": "text/javascript",
    "swagger-init.js": "text/javascript",
    "favicon.svg": "image/svg+xml",
}
SWAGGER_FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
CACHE = "public, max-age=3600"
#: Swagger UI on the OpenAPI document, started by a script file: the page runs under the same Content-Security-Policy
#: as every other (no inline script), which FastAPI's own docs page, with its inline start-up script, would break.
DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tandem REST API</title>
<link rel="stylesheet" href="/static/swagger/swagger-ui.css">
<link rel="icon" href="/static/favicon.svg">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/static/swagger/swagger-ui-bundle.js"></script>
<script src="/static/swagger-init.js"></script>
</body>
</html>
"""

_vega_bundle: str | None = None
_vega_lock = threading.Lock()


def vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed in one script, built once per process from vl-convert's bundle."""
    global _vega_bundle
    with _vega_lock:
        if _vega_bundle is None:
            import vl_convert

            _vega_bundle = vl_convert.javascript_bundle()  # type: ignore[call-arg]  # the snippet is optional
        return _vega_bundle


@router.get("/static/vega.js", openapi_extra=access(Permission.PUBLIC))
def vega_js() -> Response:
    return Response(vega_bundle(), media_type="text/javascript", headers={"Cache-Control": CACHE})


@router.get("/static/swagger/{name}", openapi_extra=access(Permission.PUBLIC))
def swagger_file(name: str) -> Response:
    import swagger_ui_bundle

    if name not in SWAGGER_FILES:
        return Response(status_code=404)
    path = Path(swagger_ui_bundle.swagger_ui_path) / name
    return FileResponse(path, media_type=SWAGGER_FILES[name], headers={"Cache-Control": CACHE})


@router.get("/static/{name}", openapi_extra=access(Permission.PUBLIC))
def static_file(name: str) -> Response:
    if name not in OWN_FILES:  # a fixed list: no path from the request reaches the file system
        return Response(status_code=404)
    return FileResponse(STATIC / name, media_type=OWN_FILES[name], headers={"Cache-Control": CACHE})


@router.get("/favicon.ico", openapi_extra=access(Permission.PUBLIC))
def favicon() -> Response:
    """Browsers ask for /favicon.ico on pages that name no icon (the API docs' JSON, say)."""
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml", headers={"Cache-Control": CACHE})


@router.get("/api/openapi.json", openapi_extra=access(Permission.PUBLIC))
def openapi_document(request: Request) -> JSONResponse:
    document: dict[str, Any] = request.app.openapi()
    return JSONResponse(document)


@router.get("/api/docs", openapi_extra=access(Permission.PUBLIC))
def api_docs() -> HTMLResponse:
    return HTMLResponse(DOCS_PAGE)
