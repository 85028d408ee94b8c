"""`tandem funnel`, `revenue`, `velocity`, `quality` and `leads` as a user runs them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from .conftest import write
from .test_cli import run

AS_OF = ["--as-of", "2026-03-01"]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-funnel")
    folder = root / "ws"
    assert run("init", folder).returncode == 0
    leads = write(
        root / "leads.csv",
        "lead_id,created_at,channel\nL1,2026-01-01,email\nL2,2026-01-02,\nL3,2026-01-03,=cmd()\n",
    )
    events = write(
        root / "events.csv",
        "lead_id,stage,occurred_at\nL1,mql,2026-01-05\nL1,sql,2026-01-07\nL2,mql,2026-01-06\nL2,mql,2026-01-26\n",
    )
    deals = write(
        root / "deals.csv",
        "opportunity_id,created_at,status,amount,close_date,lead_id\nO1,2026-01-08,won,500,2026-01-20,L1\n",
    )
    for kind, path in (("leads", leads), ("stage_events", events), ("opportunities", deals)):
        done = run("import", kind, path, "-w", folder)
        assert done.returncode == 0, done.stderr
    return folder


def test_funnel_json_follows_the_documented_shape(ws: Path) -> None:
    done = run("funnel", "--by", "channel", "--format", "json", *AS_OF, "-w", ws)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["definition_version"] == 1
    assert document["mode"] == "cumulative"
    email_mql = next(r for r in document["rows"] if r["channel"] == "email" and r["stage"] == "mql")
    assert email_mql["reached"] == 1
    assert email_mql["conversion_from_previous"] == 1.0
    assert any(r["channel"] is None for r in document["rows"]), "a missing group value is null, never dropped"
    first = next(r for r in document["rows"] if r["stage"] == "lead")
    assert first["conversion_from_previous"] is None
    assert first["median_days_from_previous"] is None


def test_funnel_table_and_strict(ws: Path) -> None:
    done = run("funnel", *AS_OF, "-w", ws)
    assert "definition version 1" in done.stdout
    assert "66.7%" in done.stdout  # 2 of 3 leads reached mql
    strict = run("funnel", "--strict", "--format", "json", *AS_OF, "-w", ws)
    assert json.loads(strict.stdout)["mode"] == "strict"


def test_funnel_csv_neutralises_formulas(ws: Path) -> None:
    done = run("funnel", "--by", "channel", "--period", "month", "--format", "csv", *AS_OF, "-w", ws)
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert {r["channel"] for r in rows} == {"email", "", "'=cmd()"}
    assert rows[0]["period"] == "2026-01-01"


def test_funnel_explain_prints_the_rules_and_the_sql(ws: Path) -> None:
    done = run("funnel", "--explain", "--window", "30", *AS_OF, "-w", ws)
    assert "definition version 1: lead -> mql -> sql -> opportunity -> won" in done.stderr
    assert "within 30 days" in done.stderr
    assert done.stdout.lstrip().upper().startswith(("WITH", "SELECT"))


def test_funnel_rejects_an_unknown_breakdown_as_a_usage_error_naming_the_flag(ws: Path) -> None:
    done = run("funnel", "--by", "chanel", "-w", ws)
    assert done.returncode == 2
    assert done.stderr.startswith("error: --by: unknown column(s) 'chanel'; available: lead_id, created_at, ")


def test_quality_reports_the_re_entry(ws: Path) -> None:
    document = json.loads(run("quality", "--format", "json", *AS_OF, "-w", ws).stdout)
    counts = {c["check"]: c["count"] for c in document["checks"]}
    assert counts["re_entries"] == 1
    assert "re_entries" in run("quality", *AS_OF, "-w", ws).stdout


def test_leads_drill_down(ws: Path) -> None:
    done = run("leads", "--stage", "mql", "--by", "channel=", "--format", "json", *AS_OF, "-w", ws)
    assert [r["lead_id"] for r in json.loads(done.stdout)["rows"]] == ["L2"]
    assert run("leads", "--stage", "mql", "--by", "channel", "-w", ws).returncode == 2


def test_revenue_and_velocity(ws: Path) -> None:
    revenue = json.loads(run("revenue", "--format", "json", *AS_OF, "-w", ws).stdout)["rows"][0]
    assert (revenue["won_revenue"], revenue["win_rate"], revenue["median_sales_cycle_days"]) == (500.0, 1.0, 12.0)
    velocity = json.loads(run("velocity", "mql", "--format", "json", *AS_OF, "-w", ws).stdout)["rows"][0]
    assert (velocity["leads"], velocity["median_days"]) == (1, 2.0)


def test_velocity_as_a_table_as_of_now_and_of_a_day(ws: Path) -> None:
    now = run("velocity", "mql", "-w", ws)
    assert now.returncode == 0, now.stderr
    assert "mql -> sql" in now.stdout
    of_a_day = run("velocity", "lead", *AS_OF, "-w", ws)
    assert of_a_day.returncode == 0, of_a_day.stderr
    assert "lead -> mql" in of_a_day.stdout


def test_pipeline_lists_open_deals_by_stage_and_age(ws: Path) -> None:
    done = run("pipeline", "--format", "json", "--as-of", "2026-01-10", "-w", ws)
    (row,) = json.loads(done.stdout)["rows"]
    # O1 was still open on Jan 10; its amount and stage then are unknown: its row was imported later
    assert (row["stage"], row["age_bin"], row["deals"], row["amount"], row["unknown_deals"]) == (
        None,
        "0-30",
        1,
        None,
        1,
    )


def test_bad_dates_and_unknown_stages_are_usage_errors_naming_the_flag_and_value(ws: Path) -> None:
    bad_date = run("funnel", "--from", "2026-13-01", "-w", ws)
    assert bad_date.returncode == 2
    assert bad_date.stderr == "error: --from: '2026-13-01' is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM\n"
    backwards = run("funnel", "--from", "2026-02-01", "--to", "2026-01-01", "-w", ws)
    assert backwards.returncode == 2
    assert backwards.stderr == (
        "error: --to: 2026-01-01 00:00 is not after the start, 2026-02-01 00:00; the range is [start, end)\n"
    )
    unknown = run("leads", "--stage", "deal", "-w", ws)
    assert unknown.returncode == 2
    assert unknown.stderr == (
        "error: --stage: unknown stage 'deal'; the funnel's stages are: lead, mql, sql, opportunity, won\n"
    )
