"""The web app: one FastAPI application serving the pages and the REST API of a workspace.

Every route declares who may use it (`tandem.server.access`); a test walks them all with every role.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["create_app", "serve"]


def create_app(workspace: Path) -> FastAPI:
    from tandem.server.app import build_app

    return build_app(workspace)


def serve(workspace: Path, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the web app with uvicorn until interrupted. On a workspace without users, create the first admin."""
    import uvicorn

    from tandem.workspace import cli_actor, open_workspace

    with open_workspace(workspace) as ws:
        password = ws.accounts.ensure_first_admin(cli_actor())
    if password:
        print(
            "No users yet: created user 'admin' with the one-time password\n\n"
            f"    {password}\n\n"
            "It is shown only now; you will be asked to choose your own at first sign-in.",
            flush=True,
        )
    print(f"tandem is serving {workspace} on http://{host}:{port}/  (Ctrl+C to stop)", flush=True)
    uvicorn.run(create_app(workspace), host=host, port=port, log_level="warning", proxy_headers=True)
