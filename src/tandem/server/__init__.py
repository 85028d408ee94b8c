"""The web app: one FastAPI application serving the pages and the REST API of a workspace.

Every route declares who may use it (`tandem.server.access`); a test walks them all with every role.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["SERVED_WORKSPACE", "create_app", "served_app"]

#: The environment variable naming the workspace `served_app` serves (set by `tandem serve` before uvicorn starts).
SERVED_WORKSPACE = "TANDEM_SERVED_WORKSPACE"


def create_app(workspace: Path) -> FastAPI:
    from tandem.server.app import build_app

    return build_app(workspace)


def served_app() -> FastAPI:
    """The app of the workspace named in ``$TANDEM_SERVED_WORKSPACE``: uvicorn's factory (``tandem.server:served_app``),
    so the command line starts the server by name and never imports it."""
    return create_app(Path(os.environ[SERVED_WORKSPACE]))
