"""The funnel engine's REST endpoints: the CLI's JSON documents, over HTTP, cached, and refusing bad questions clearly.

Expected values come from the Python API on the same workspace, or from the CLI itself, with an explicit `as_of`
so both sides observe the data at the same moment.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tandem.cli import app as cli
from tandem.exports import json_value
from tandem.periods import period_label
from tandem.server import create_app

#: Every demo event lies before today 00:00 UTC: observing as of today sees all of it, on both sides.
AS_OF = date.today().isoformat()


def month_start(months_back: int) -> str:
    today = date.today()
    index = today.year * 12 + today.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1).isoformat()


FROM, TO = month_start(6), month_start(0)


def plain(rows: list[dict[str, Any]], grain: str | None = None) -> list[dict[str, Any]]:
    """Python API rows as JSON holds them (what every endpoint's rows are); by a period `grain`, each row also says
    its period as people do (`tandem.periods.period_label`), as documents do."""
    found = [{k: json_value(v) for k, v in row.items()} for row in rows]
    if grain:
        for row in found:
            row["period_label"] = period_label(row["period"], grain)
    return found


def same_rows(actual: list[dict[str, Any]], expected: list[dict[str, Any]]) -> bool:
    """Rows equal value for value; floats to the last bits (a parallel sum adds in any order)."""
    return len(actual) == len(expected) and all(a == pytest.approx(e) for a, e in zip(actual, expected, strict=True))


def same_document(actual: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Documents equal field for field, rows as `same_rows`."""
    head = {k: v for k, v in actual.items() if k != "rows"}
    return head == {k: v for k, v in expected.items() if k != "rows"} and (
        "rows" not in expected or same_rows(actual["rows"], expected["rows"])
    )


#: (CLI arguments, API path and query) asking the same question.
SAME_QUESTIONS = {
    "funnel": (
        ["funnel", "--by", "channel", "--period", "month", "--from", FROM, "--to", TO, "--window", "30"],
        "/api/funnel?by=channel&period=month&from={FROM}&to={TO}&window=30",
    ),
    "revenue": (["revenue", "--period", "quarter", "--by", "segment"], "/api/revenue?period=quarter&by=segment"),
    "velocity": (["velocity", "mql", "won", "--by", "channel"], "/api/velocity?from_stage=mql&to_stage=won&by=channel"),
    "pipeline": (["pipeline", "--by", "owner"], "/api/pipeline?by=owner"),
    "quality": (["quality"], "/api/quality?"),
    "leads": (
        ["leads", "--stage", "sql", "--by", "channel=email", "--from", FROM, "--limit", "20"],
        "/api/leads?stage=sql&where=channel=email&from={FROM}&limit=20",
    ),
}


@pytest.mark.parametrize("command", list(SAME_QUESTIONS))
def test_each_endpoint_answers_with_the_document_the_cli_prints(served: Path, command: str) -> None:
    arguments, url = SAME_QUESTIONS[command]
    printed = CliRunner().invoke(
        cli, [*arguments, "--workspace", str(served), "--as-of", AS_OF, "--format", "json"], catch_exceptions=False
    )
    assert printed.exit_code == 0, printed.output
    app = create_app(served)
    _, secret = app.state.tandem.workspace.accounts.create_token("test", "val", "tests")
    with TestClient(app, headers={"Authorization": f"Bearer {secret}"}) as api:
        answered = api.get(url.format(FROM=FROM, TO=TO) + f"&as_of={AS_OF}")
    assert answered.status_code == 200, answered.text
    assert same_document(answered.json(), json.loads(printed.stdout))


def test_the_funnel_endpoint_equals_the_python_api(app: FastAPI, api: Callable[[str], TestClient]) -> None:
    ws = app.state.tandem.workspace
    document = (
        api("val")
        .get(
            "/api/funnel", params={"by": ["channel", "segment"], "period": "quarter", "strict": "true", "as_of": AS_OF}
        )
        .json()
    )
    expected = ws.funnel(by=["channel", "segment"], period="quarter", strict=True, as_of=AS_OF)
    assert same_rows(document["rows"], plain(expected.rows(), "quarter"))
    assert document["rows"][0]["period_label"] == "2024-Q4"
    assert document["definition_version"] == ws.definition_version
    assert document["backend"] == "duckdb"
    assert document["mode"] == "strict"
    assert document["stages"] == ws.stages
    assert (document["period"], document["window_days"], document["horizon_days"]) == ("quarter", None, 90)
    assert document["as_of"] == AS_OF


def test_a_breakdown_keeps_leads_without_a_value_as_a_null_group(
    app: FastAPI, api: Callable[[str], TestClient]
) -> None:
    rows = api("val").get("/api/funnel", params={"by": "channel", "as_of": AS_OF}).json()["rows"]
    missing = [row for row in rows if row["channel"] is None]
    assert [row["stage"] for row in missing] == app.state.tandem.workspace.stages
    ws = app.state.tandem.workspace
    without_channel = ws.warehouse.table("leads").filter(lambda t: t.channel.isnull()).count().execute()
    assert missing[0]["reached"] == without_channel > 0


def test_revenue_velocity_pipeline_and_quality_equal_the_python_api(
    app: FastAPI, api: Callable[[str], TestClient]
) -> None:
    ws, client = app.state.tandem.workspace, api("val")
    revenue = client.get("/api/revenue", params={"period": "month", "from": FROM, "as_of": AS_OF}).json()
    assert same_rows(revenue["rows"], plain(ws.revenue(period="month", start=FROM, as_of=AS_OF).rows(), "month"))
    velocity = client.get("/api/velocity", params={"from_stage": "lead", "period": "month", "as_of": AS_OF}).json()
    assert same_rows(velocity["rows"], plain(ws.velocity("lead", period="month", as_of=AS_OF).rows(), "month"))
    pipeline = client.get("/api/pipeline", params={"as_of": AS_OF}).json()
    assert same_rows(pipeline["rows"], plain(ws.pipeline(as_of=AS_OF).rows()))
    quality = client.get("/api/quality", params={"as_of": AS_OF}).json()
    assert [c["count"] for c in quality["checks"]] == [c["count"] for c in ws.quality(as_of=AS_OF).to_dict()["checks"]]


def test_the_leads_behind_each_channel_number_are_as_many_as_the_funnel_says(api: Callable[[str], TestClient]) -> None:
    client = api("val")
    funnel = client.get("/api/funnel", params={"by": "channel", "from": FROM, "to": TO, "as_of": AS_OF}).json()
    checked = 0
    for row in funnel["rows"]:
        if row["stage"] not in ("mql", "opportunity"):
            continue
        where = f"channel={row['channel'] or ''}"
        params = {"stage": row["stage"], "where": where, "from": FROM, "to": TO, "as_of": AS_OF, "limit": 5000}
        leads = client.get("/api/leads", params=params).json()
        assert len(leads["rows"]) == row["reached"], (row["channel"], row["stage"])
        assert leads["filters"] == {"channel": row["channel"]}
        checked += 1
    assert checked >= 10


def test_leads_are_listed_newest_entry_first_up_to_the_limit(api: Callable[[str], TestClient]) -> None:
    rows = api("val").get("/api/leads", params={"stage": "mql", "limit": 7, "as_of": AS_OF}).json()["rows"]
    assert len(rows) == 7
    entered = [row["entered"] for row in rows]
    assert entered == sorted(entered, reverse=True)


def test_the_leads_csv_has_a_header_and_defuses_formulas(
    app: FastAPI, api: Callable[[str], TestClient], tmp_path: Path
) -> None:
    source = tmp_path / "leads.csv"
    source.write_text('lead_id,created_at,company\nL-EVIL,2026-01-05T10:00:00,=HYPERLINK("http://x")\n')
    state = app.state.tandem
    with state.warehouse_lock:
        state.workspace.import_files("leads", [source], actor="test")
    state.data_changed()
    response = api("val").get("/api/leads.csv", params={"stage": "lead", "where": "lead_id=L-EVIL", "as_of": AS_OF})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="tandem-leads-lead.csv"'
    header, *rows = list(csv.reader(io.StringIO(response.text)))
    assert header[:2] == ["lead_id", "created_at"]
    assert "entered" in header
    assert len(rows) == 1
    assert rows[0][header.index("company")] == '\'=HYPERLINK("http://x")'


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("/api/funnel?by=no_such_column", "no_such_column"),
        ("/api/revenue?by=no_such_column", "no_such_column"),
        ("/api/leads?stage=nope", "nope"),
        ("/api/velocity?from_stage=mql&to_stage=nope", "nope"),
        ("/api/velocity?from_stage=won", "won"),
        ("/api/leads?stage=mql&where=no_such_column=1", "no_such_column"),
        ("/api/leads?stage=mql&where=channel", "channel"),
        ("/api/funnel?from=2026-13-45", "2026-13-45"),
        ("/api/funnel?as_of=yesterday", "yesterday"),
        ("/api/funnel?from=2026-03-01&to=2026-02-01", "2026-03-01"),
        ("/api/funnel?by=channel&by=channel", "channel"),
        ("/api/funnel?as_of=0001-01-01T00:00%2B01:00", "0001-01-01T00:00+01:00"),
        ("/api/leads?stage=mql&where=channel=a%00b", "channel"),
    ],
)
def test_a_bad_question_is_a_422_naming_the_bad_value(api: Callable[[str], TestClient], url: str, named: str) -> None:
    response = api("val").get(url)
    assert response.status_code == 422, response.text
    assert named in response.json()["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/funnel?window=abc",
        "/api/funnel?window=0",
        "/api/funnel?strict=maybe",
        "/api/funnel?period=year",
        "/api/leads?stage=mql&limit=0",
        "/api/leads?stage=mql&limit=5001",
        "/api/leads",
        "/api/velocity",
    ],
)
def test_a_value_of_the_wrong_type_is_a_422(api: Callable[[str], TestClient], url: str) -> None:
    assert api("val").get(url).status_code == 422


def test_the_endpoints_need_credentials(client: TestClient) -> None:
    for url in ("/api/funnel", "/api/revenue", "/api/pipeline", "/api/quality", "/api/leads?stage=mql"):
        assert client.get(url).status_code == 401


def test_a_repeated_question_is_served_from_the_cache(app: FastAPI, api: Callable[[str], TestClient]) -> None:
    client, cache = api("val"), app.state.tandem.cache
    first = client.get("/api/funnel", params={"by": "owner", "period": "week", "as_of": AS_OF})
    hits = cache.hits
    second = client.get("/api/funnel", params={"by": "owner", "period": "week", "as_of": AS_OF})
    assert cache.hits == hits + 1
    assert second.json() == first.json()


def test_the_endpoints_are_documented_with_their_parameters(app: FastAPI) -> None:
    operations = app.openapi()["paths"]
    funnel = operations["/api/funnel"]["get"]
    names = {p["name"]: p for p in funnel["parameters"]}
    assert {"by", "period", "from", "to", "strict", "window", "horizon", "as_of"} <= set(names)
    assert all(p.get("description") for p in names.values())
    assert funnel["x-access"] == "read"
    assert "funnel" in funnel["tags"]
    for path in ("/api/revenue", "/api/velocity", "/api/pipeline", "/api/quality", "/api/leads", "/api/leads.csv"):
        assert operations[path]["get"]["description"], path
