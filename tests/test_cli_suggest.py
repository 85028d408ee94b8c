"""`tandem definitions suggest` on the demo company: attributes that predict won, the held-out AUC, the threshold
curve; read-only."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

import tandem
from tandem.cli import app as cli
from tandem.definitions.suggestions import suggest_definitions
from tandem.demo_workspace import build_demo
from tandem.errors import ConfigError

TODAY = date(2026, 6, 1)


def suggest(ws: Path, *args: str) -> Result:
    """Run ``tandem definitions suggest`` in this process (the model is fitted once per call; no start-up cost)."""
    return CliRunner().invoke(cli, ["definitions", "suggest", "-w", str(ws), "--as-of", TODAY.isoformat(), *args])


def test_suggest_on_the_demo_company_changes_no_definition(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    with build_demo(folder, leads=10_000, seed=7, today=TODAY, echo=lambda _line: None) as ws:
        before = ws.definitions.history()

    done = suggest(folder, "--top", "4", "--format", "json")
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    assert set(document) >= {"definition_version", "stage", "outcome", "model", "attributes", "current", "curve"}
    assert (document["stage"], document["candidates_stage"], document["outcome"]) == ("mql", "lead", "won")
    model = document["model"]
    # The held-out AUC the Python API gives for the same workspace, moment and seed (tests/definitions/test_suggest.py
    # works the AUC itself out by hand).
    with tandem.open_workspace(folder) as opened:
        expected = suggest_definitions(opened, as_of=TODAY, top=4)
    assert model["auc"] == expected.auc
    assert model["auc"] > 0.55  # and better than chance on leads it never saw
    assert model["train_rows"] > 3 * model["test_rows"] * 0.9
    assert "lead_id" not in model["features"]
    assert len(document["attributes"]) == 4
    importances = [a["importance"] for a in document["attributes"]]
    assert importances == sorted(importances, reverse=True)
    curve = document["curve"]
    assert len(curve) == 10
    assert curve[0]["share"] == 1.0
    assert curve[0]["recall"] == 1.0
    assert [row["threshold"] for row in curve] == sorted(row["threshold"] for row in curve)
    assert [row["volume"] for row in curve] == sorted((row["volume"] for row in curve), reverse=True)
    assert document["current"]["candidates"] == curve[0]["volume"]
    assert 0 < document["current"]["reached"] < document["current"]["candidates"]

    table = suggest(folder, "--top", "2")
    assert table.exit_code == 0, table.output
    assert "held-out AUC" in table.stdout
    assert "mql as a score threshold" in table.stdout
    assert "does not change the definitions" in table.stderr

    refused = suggest(folder, "--stage", "won")  # in process: the refusal as raised (the command says `--stage: ...`)
    assert refused.exit_code == 1
    assert isinstance(refused.exception, ConfigError)
    assert refused.exception.field == "stage"
    assert "'won' is not between the first and the last stage" in str(refused.exception)
    with tandem.open_workspace(folder) as ws:
        after = ws.definitions.history()
    assert [v.as_dict() for v in after["versions"]] == [v.as_dict() for v in before["versions"]]
    assert after["proposals"] == before["proposals"] == []
