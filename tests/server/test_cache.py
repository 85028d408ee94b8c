"""The web app's result cache: computed once per version of what a question reads, invalidated by imports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tandem.server.state import ResultCache, ServerState

from ..conftest import write


def import_into(app: FastAPI, kind: str, path: Path) -> None:
    state: ServerState = app.state.tandem
    with state.warehouse_lock:
        state.workspace.import_files(kind, [path])
    state.data_changed()


def test_the_same_question_twice_is_computed_once(app: FastAPI, api: Callable[[str], TestClient]) -> None:
    client = api("val")
    state: ServerState = app.state.tandem
    first = client.get("/api/overview").json()
    misses, hits = state.cache.misses, state.cache.hits
    assert client.get("/api/overview").json() == first
    assert (state.cache.misses, state.cache.hits) == (misses, hits + 1)


def test_new_leads_invalidate_the_overview(app: FastAPI, api: Callable[[str], TestClient], tmp_path: Path) -> None:
    client = api("val")
    before = client.get("/api/overview").json()
    created = before["computed_at"][:10]
    import_into(app, "leads", write(tmp_path / "new.csv", f"lead_id,created_at\nNEW1,{created}\nNEW2,{created}\n"))
    after = client.get("/api/overview").json()
    lead_before = next(r["reached"] for r in before["stage_volumes"] if r["stage"] == "lead")
    lead_after = next(r["reached"] for r in after["stage_volumes"] if r["stage"] == "lead")
    assert lead_after == lead_before + 2


def test_spend_leaves_the_overview_cached(app: FastAPI, api: Callable[[str], TestClient], tmp_path: Path) -> None:
    client = api("val")
    state: ServerState = app.state.tandem
    client.get("/api/overview")
    import_into(app, "spend", write(tmp_path / "spend.csv", "date,channel,amount\n2026-01-05,email,100\n"))
    hits = state.cache.hits
    client.get("/api/overview")
    assert state.cache.hits == hits + 1


def test_the_cache_keeps_only_the_most_recently_used() -> None:
    cache = ResultCache(capacity=2)
    cache.put(("a",), 1)
    cache.put(("b",), 2)
    assert cache.get(("a",)) == (True, 1)
    cache.put(("c",), 3)
    assert cache.get(("b",)) == (False, None)
    assert cache.get(("a",)) == (True, 1)
    assert len(cache) == 2
