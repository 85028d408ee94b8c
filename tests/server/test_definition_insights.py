"""What the data says about the definitions, over REST: the loosening signal and suggestions from data."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tandem.definitions.signal import loosening_signal
from tandem.definitions.suggestions import suggest_definitions

#: Every demo event lies before today 00:00 UTC.
AS_OF = date.today().isoformat()


def test_the_signal_is_the_python_apis_document_and_is_cached(app: FastAPI, api: Callable[[str], TestClient]) -> None:
    reader = api("val")
    response = reader.get("/api/definitions/signal", params={"as_of": AS_OF, "weeks": 3, "baseline_weeks": 9})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] in ("flag", "ok", "not enough data")
    assert (body["mql_stage"], body["next_stage"]) == ("mql", "sql")
    assert body["params"]["recent_weeks"] == 3
    assert body["params"]["baseline_weeks"] == 9
    assert body["params"]["window_days"] == 14
    assert len(body["history"]) == 12
    assert body["history"][-1]["status"] == body["status"]
    state = app.state.tandem
    with state.warehouse_lock:
        expected = loosening_signal(state.workspace, as_of=AS_OF, recent_weeks=3, baseline_weeks=9).as_dict()
    assert body == json.loads(json.dumps(expected))
    hits = state.cache.hits
    assert (
        reader.get("/api/definitions/signal", params={"as_of": AS_OF, "weeks": 3, "baseline_weeks": 9}).json() == body
    )
    assert state.cache.hits == hits + 1

    assert reader.get("/api/definitions/signal", params={"weeks": 0}).status_code == 422
    refused = reader.get("/api/definitions/signal", params={"as_of": "yesterday"})
    assert refused.status_code == 422
    assert "as_of" in refused.json()["detail"]
    assert api("val").get("/api/definitions/signal").status_code == 200  # as of now
    anonymous = TestClient(app).get("/api/definitions/signal")
    assert anonymous.status_code == 401


def test_suggestions_rank_attributes_draw_the_curve_and_change_no_definition(
    app: FastAPI, api: Callable[[str], TestClient]
) -> None:
    reader = api("val")
    before = reader.get("/api/definitions").json()
    response = reader.get("/api/definitions/suggestions", params={"as_of": AS_OF, "top": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stage"] == "mql"
    assert body["outcome"] == "won"
    # The held-out AUC of the won model the Python API fits on the same leads with the same seed, to the last digit.
    state = app.state.tandem
    with state.warehouse_lock:
        expected = suggest_definitions(state.workspace, as_of=AS_OF, top=3)
    assert body["model"]["auc"] == expected.auc
    assert len(body["attributes"]) == 3
    assert {"attribute", "importance", "strongest", "raises", "effect"} <= set(body["attributes"][0])
    curve = body["curve"]
    assert curve
    assert curve[0]["share"] == 1.0  # the lowest threshold lets every candidate through
    assert [row["volume"] for row in curve] == sorted((row["volume"] for row in curve), reverse=True)
    assert "does not change the definitions" in body["note"]
    assert reader.get("/api/definitions").json() == before

    unknown = reader.get("/api/definitions/suggestions", params={"stage": "won"})
    assert unknown.status_code == 422
    assert unknown.json()["field"] == "stage"  # the parameter's name, not the command line's flag
    assert unknown.json()["detail"].startswith("stage: 'won' is not between the first and the last stage")
