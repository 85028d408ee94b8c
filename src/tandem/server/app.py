"""FastAPI application: a workspace overview page and its JSON twin."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from tandem import __version__
from tandem.workspace import open_workspace

PUBLIC = {"x-access": "public"}


def _status(workspace: Path) -> dict[str, Any]:
    # Opened per request: DuckDB allows one writing process, and `tandem import` must not be locked out.
    with open_workspace(workspace) as ws:
        return ws.status()


def build_app(workspace: Path) -> FastAPI:
    app = FastAPI(title="tandem", version=__version__, docs_url=None, redoc_url=None)

    @app.get("/api/status", openapi_extra=PUBLIC)
    def api_status() -> dict[str, Any]:
        """Counts per table, definition version, backends and the last import."""
        return _status(workspace)

    @app.get("/", response_class=HTMLResponse, openapi_extra=PUBLIC)
    def overview() -> str:
        info = _status(workspace)
        rows = "".join(
            f"<tr><td>{escape(name)}</td><td class=n>{count:,}</td></tr>" for name, count in info["tables"].items()
        )
        last = info["last_import"]
        last_line = (
            f"Last import #{last['import_id']}: {escape(last['file_name'])} into {escape(last['table_name'])}, "
            f"{last['finished_at']:%Y-%m-%d %H:%M} UTC"
            if last
            else "No import yet."
        )
        stages = " &rarr; ".join(escape(s) for s in info["stages"])
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tandem: {escape(info["name"])}</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 46rem; color: #1d2433; }}
h1 {{ font-size: 1.4rem; }} table {{ border-collapse: collapse; min-width: 20rem; }}
td, th {{ padding: .25rem .75rem; border-bottom: 1px solid #dde2ea; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }} .muted {{ color: #5b6578; }}
</style></head><body>
<h1>tandem &middot; {escape(info["name"])}</h1>
<p>Funnel (definition version {info["definition_version"]}): <strong>{stages}</strong></p>
<table><thead><tr><th>table</th><th>rows</th></tr></thead><tbody>{rows}</tbody></table>
<p class="muted">{last_line}<br>Warehouse: {escape(info["warehouse"]["backend"])} &middot;
Application database: {escape(info["database"]["backend"])} &middot; tandem {__version__}</p>
</body></html>"""

    return app
