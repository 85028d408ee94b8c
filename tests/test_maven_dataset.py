"""The Maven CRM pipeline (8,800 opportunities) imports with the mapping shipped in examples/.

Expected figures are computed here from the CSV with the standard library, independently of tandem.
"""

from __future__ import annotations

import csv
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from tandem import Workspace

from .conftest import DATASETS, REPO

MAVEN = DATASETS / "maven-crm-sales-opportunities"
STATUS = {"Won": "won", "Lost": "lost", "Engaging": "open", "Prospecting": "open"}

pytestmark = pytest.mark.skipif(not MAVEN.is_dir(), reason=f"{MAVEN} is not present")


def expected() -> tuple[Counter[str], Decimal, int]:
    """Opportunities per status among rows with an engage date, won value, and rows without a date."""
    with (MAVEN / "sales_pipeline.csv").open(newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    dated = [r for r in records if r["engage_date"]]
    per_status = Counter(STATUS[r["deal_stage"]] for r in dated)
    won_value = sum((Decimal(r["close_value"]) for r in dated if r["deal_stage"] == "Won"), Decimal(0))
    return per_status, won_value, len(records) - len(dated)


def test_maven_pipeline_imports_with_the_example_mapping(workspace: Workspace, tmp_path: Path) -> None:
    per_status, won_value, undated = expected()
    source = tmp_path / "sales_pipeline.csv"
    source.write_bytes((MAVEN / "sales_pipeline.csv").read_bytes())  # rejects are written beside the input

    (accounts,) = workspace.import_files(
        "accounts", [MAVEN / "accounts.csv"], mapping=str(REPO / "examples" / "maven-accounts.toml")
    )
    (deals,) = workspace.import_files(
        "opportunities",
        [source],
        mapping=str(REPO / "examples" / "maven-opportunities.toml"),
        skip_invalid=True,
    )
    assert accounts.added == 85
    assert (deals.added, deals.rejected) == (sum(per_status.values()), undated)
    assert deals.rejects_path is not None
    assert Path(deals.rejects_path).is_file()

    opportunities = workspace.warehouse.table("opportunities")
    counts = opportunities.group_by("status").aggregate(n=opportunities.count()).to_pyarrow().to_pylist()
    assert {r["status"]: r["n"] for r in counts} == dict(per_status)
    won = opportunities.filter(opportunities.status == "won").amount.sum().execute()
    assert Decimal(str(round(won, 2))) == won_value


def test_reimporting_maven_changes_nothing(workspace: Workspace, tmp_path: Path) -> None:
    mapping = str(REPO / "examples" / "maven-opportunities.toml")
    source = tmp_path / "sales_pipeline.csv"
    source.write_bytes((MAVEN / "sales_pipeline.csv").read_bytes())
    workspace.import_files("opportunities", [source], mapping=mapping, skip_invalid=True)
    (again,) = workspace.import_files("opportunities", [source], mapping=mapping, skip_invalid=True)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 8300)
