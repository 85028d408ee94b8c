"""The web app. Until the dashboard lands, one page shows the workspace: its tables, definitions and imports.

Every route declares who may use it (``access`` in the route's OpenAPI extra); a test walks them all. The only
level today is ``public`` on a server bound to 127.0.0.1 by default: accounts and roles come with the dashboard.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["create_app", "serve"]


def create_app(workspace: Path):  # type: ignore[no-untyped-def]  # FastAPI is an optional extra
    from tandem.server.app import build_app

    return build_app(workspace)


def serve(workspace: Path, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the web app with uvicorn until interrupted."""
    try:
        import uvicorn
    except ImportError:
        from tandem.errors import ConfigError

        raise ConfigError("the web app needs the server extra: pip install 'tandem[server]'") from None
    print(f"tandem is serving {workspace} on http://{host}:{port}/  (Ctrl+C to stop)", flush=True)
    uvicorn.run(create_app(workspace), host=host, port=port, log_level="warning")
