"""The FastAPI application: pages and REST API of one workspace, every route behind its access declaration."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tandem import __version__
from tandem.accounts import AccessDenied
from tandem.errors import BusyError, TandemError
from tandem.money import use_currency
from tandem.questions.base import describe
from tandem.server.access import Forbidden, NotFound, NotSignedIn
from tandem.server.pages import render
from tandem.server.refusals import ParameterError, refusal
from tandem.server.routes import (
    admin,
    assets,
    attribution,
    auth,
    definition_insights,
    definitions,
    forecast,
    funnel,
    goals,
    imports,
    overview,
    plan,
    plan_proposals,
    sla,
)
from tandem.server.state import ServerState

__all__ = ["build_app"]

ROUTERS: tuple[APIRouter, ...] = (
    assets.router,
    auth.router,
    overview.router,
    funnel.router,
    definition_insights.router,  # before definitions: /api/definitions/signal is not a {version}
    definitions.router,
    goals.router,
    plan_proposals.router,  # its /plan/... pages and /api/plans do not clash with plan's; listed first anyway
    plan.router,
    forecast.router,
    sla.router,
    attribution.router,
    imports.router,
    admin.router,
)

#: Scripts and styles come from this server only: no inline script or style, no eval (the charts run Vega's
#: expression interpreter instead of compiling expressions to functions).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; form-action 'self'"
)
#: Every response carries these unless it set its own, whatever answered it: a page, a redirect, a refusal, a 500.
#: Static files set their own Cache-Control (cached for an hour); nothing else may be stored.
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class SecurityHeaders:
    """ASGI middleware around the whole application, Starlette's error handler included, so that the plain 500 of
    an unhandled exception carries the headers too (a middleware added with `app.middleware` sits inside it)."""

    def __init__(self, app: ASGIApp, after: Callable[[], None]) -> None:
        self.app = app
        self.after = after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        try:
            await self.app(scope, receive, send_secured)
        finally:
            self.after()


class TandemApp(FastAPI):
    """FastAPI with `SecurityHeaders` outermost; `after_request` runs once each request is answered."""

    after_request: Callable[[], None] = staticmethod(lambda: None)

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack(), self.after_request)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def build_app(workspace: Path) -> FastAPI:
    state = ServerState(workspace)
    use_currency(state.workspace.settings["currency"])  # every page, chart and report shows amounts in it

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    app = TandemApp(
        title="tandem",
        version=__version__,
        description=(
            "The REST API of a tandem workspace. Authenticate with an API token "
            "(`Authorization: Bearer tdm_...`, created on the Account page or with `tandem tokens create`). "
            "Each operation's `x-access` names the permission it needs and `x-roles` the roles that have it."
        ),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.tandem = state
    app.after_request = state.release_if_idle
    for router in ROUTERS:
        app.include_router(router)

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        if request.method == "GET":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        return render(request, "error.html", 401, title="Sign in", heading="Sign in first", detail=str(exc))

    async def forbidden(request: Request, exc: Exception) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=403)
        return render(request, "error.html", 403, title="Not allowed", heading="Not allowed", detail=str(exc))

    app.add_exception_handler(Forbidden, forbidden)
    app.add_exception_handler(AccessDenied, forbidden)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the methods of the first route on the path; a path may have several routes.
            allowed = {
                method
                for context in iter_route_contexts(app.router.routes)
                if isinstance(context.original_route, APIRoute)
                and re.fullmatch(context.original_route.path_regex, request.url.path)
                for method in context.methods or ()
            }
            headers["Allow"] = ", ".join(sorted(allowed))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=404)
        return render(request, "error.html", 404, title="Not found", heading="Not found", detail=str(exc))

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> Response:
        """A query or path parameter of the wrong type or out of bounds: the same one-field refusal as a question's
        (a JSON body that does not fit its schema keeps FastAPI's list of problems)."""
        first = exc.errors()[0] if exc.errors() else {}
        if not first or first.get("loc", ("body",))[0] not in ("query", "path"):
            return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
        field, _, message = describe(first)
        return await refused(request, ParameterError(message, field=field))

    @app.exception_handler(TandemError)
    async def refused(request: Request, exc: TandemError) -> Response:
        status, heading, body = refusal(exc)
        if _is_api(request):
            response: Response = JSONResponse(body, status_code=status)
        else:
            response = render(request, "error.html", status, title=heading, heading=heading, detail=str(body["detail"]))
        if isinstance(exc, BusyError):  # the import it waited for may take a while yet
            response.headers["Retry-After"] = "30"
        return response

    return app
