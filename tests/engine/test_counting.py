"""Each period counted under the definitions version in force during it, worked by hand on every backend.

Version 1: a lead is an MQL when it asked for a demo (``has_event('demo_request')``). Version 2, in force from
1 February 2026: also when it attended a webinar. The leads (all touches are theirs)::

    lead  created  touches                                   v1 entry   v2 alone   in force (v1 to Feb 1, v2 after)
    A     01-05    webinar 01-10, demo_request 02-20         02-20      01-10      02-20 (v2's first moment from Feb 1)
    B     01-05    webinar 01-12, page_view 02-05            -          01-12      02-05 (met before, counted at its
                                                                                          next touch after Feb 1)
    C     01-05    demo_request 01-15                        01-15      01-15      01-15 (v1, in its stretch)
    D     01-05    webinar 02-10                             -          02-10      02-10
    E     02-03    webinar 02-03                             -          02-03      02-03
    F     01-05    webinar 01-20                             -          01-20      - (nothing happens after Feb 1)

MQLs by month: as counted then, January 1 (C) and February 4 (A, B, D, E); under version 1 throughout, 1 and 1
(C; A); under version 2 throughout (the restated figures), 4 (A, B, C, F) and 2 (D, E). January keeps the figure
version 1 gave it once version 2 is in force.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

import pyarrow as pa
import pytest

from tandem import Workspace
from tandem.definitions.counting import Counting, Stretch, counting_in_force
from tandem.definitions.governance import VersionInfo
from tandem.definitions.model import load_definitions
from tandem.questions import FunnelQuestion, ask

from ..backends import Backend

AS_OF = datetime(2026, 3, 1)
JAN, FEB = "2026-01-01", "2026-02-01"


def d(month: int, day: int) -> datetime:
    return datetime(2026, month, day)


def version(number: int, rule: str, effective: date | None) -> VersionInfo:
    text = (
        "stages:\n  - name: lead\n    side: marketing\n    description: A lead.\n"
        f"  - name: mql\n    side: marketing\n    description: Ready.\n    rule: {rule}\n"
        "  - name: sql\n    side: sales\n    description: Accepted.\n"
    )
    return VersionInfo(number, load_definitions(text), text, datetime(2026, 1, 1), "test", "", effective, None)


V1 = version(1, "has_event('demo_request')", None)
V2 = version(2, "has_event('demo_request') or has_event('webinar')", date(2026, 2, 1))


def _tables() -> dict[str, pa.Table]:
    leads = [("A", d(1, 5)), ("B", d(1, 5)), ("C", d(1, 5)), ("D", d(1, 5)), ("E", d(2, 3)), ("F", d(1, 5))]
    touches = [
        ("A", "webinar", d(1, 10)),
        ("A", "demo_request", d(2, 20)),
        ("B", "webinar", d(1, 12)),
        ("B", "page_view", d(2, 5)),
        ("C", "demo_request", d(1, 15)),
        ("D", "webinar", d(2, 10)),
        ("E", "webinar", d(2, 3)),
        ("F", "webinar", d(1, 20)),
    ]
    return {
        "leads": pa.table(
            {"lead_id": [x[0] for x in leads], "created_at": pa.array([x[1] for x in leads], pa.timestamp("us"))}
        ),
        "touches": pa.table(
            {
                "touch_id": [f"t{i}" for i in range(len(touches))],
                "occurred_at": pa.array([t[2] for t in touches], pa.timestamp("us")),
                "channel": ["web"] * len(touches),
                "lead_id": [t[0] for t in touches],
                "kind": [t[1] for t in touches],
            }
        ),
    }


@pytest.fixture(scope="module")
def warehouse(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    with backend.workspace_holding(tmp_path_factory.mktemp(f"counting-{backend.name}"), _tables()) as ws:
        yield ws


@pytest.fixture
def versioned(warehouse: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The workspace with versions 1 and 2 as above (made by hand: governance refuses effective dates in the past)."""
    monkeypatch.setattr(warehouse.definitions, "versions", lambda: [V1, V2])
    monkeypatch.setattr(warehouse.definitions, "version", lambda n: {1: V1, 2: V2}[n])
    return warehouse


def mqls(document: dict) -> dict[str, int]:
    return {row["period"]: row["reached"] for row in document["rows"] if row["stage"] == "mql"}


def test_the_stretches_each_version_counts() -> None:
    assert counting_in_force([V1, V2], AS_OF) == Counting((Stretch(V1, None, d(2, 1)), Stretch(V2, d(2, 1), None)))
    # As of a day before version 2 took effect, it is not seen.
    assert counting_in_force([V1, V2], d(1, 31)) == Counting((Stretch(V1, None, None),))
    # A later version taking effect no later than the one before it replaces it.
    v3 = version(3, "has_event('demo_request')", date(2026, 2, 1))
    assert counting_in_force([V1, V2, v3], AS_OF).stretches == (Stretch(V1, None, d(2, 1)), Stretch(v3, d(2, 1), None))
    split = counting_in_force([V1, V2], AS_OF)
    assert split.describe(d(1, 1), d(3, 1)) == "version 1 until 2026-02-01, version 2 from 2026-02-01"
    assert split.as_list(d(1, 1), d(1, 31)) == [{"version": 1, "from": None, "until": date(2026, 2, 1)}]


def test_each_month_is_counted_under_the_version_in_force_then(versioned: Workspace) -> None:
    question = FunnelQuestion.parse(period="month", start=d(1, 1), end=d(3, 1), as_of=AS_OF)
    counted = ask(versioned, question)
    assert mqls(counted) == {JAN: 1, FEB: 4}
    assert counted["counting"] == "in force"
    assert counted["counted_under"] == [
        {"version": 1, "from": None, "until": "2026-02-01"},
        {"version": 2, "from": "2026-02-01", "until": None},
    ]
    assert {row["period"]: row["versions"] for row in counted["rows"]} == {JAN: [1], FEB: [2]}


def test_any_period_can_be_recounted_under_any_version(versioned: Workspace) -> None:
    question = FunnelQuestion.parse(period="month", start=d(1, 1), end=d(3, 1), as_of=AS_OF)
    assert mqls(ask(versioned, question.model_copy(update={"version": 1}))) == {JAN: 1, FEB: 1}
    restated = ask(versioned, question.model_copy(update={"version": 2}))
    assert mqls(restated) == {JAN: 4, FEB: 2}
    assert restated["counting"] == "version 2 throughout"
    marked = ask(versioned, question.model_copy(update={"restated": True}))
    assert marked["restated_version"] == 2
    assert {
        row["period"]: (row["reached"], row["reached_restated"]) for row in marked["rows"] if row["stage"] == "mql"
    } == {
        JAN: (1, 4),
        FEB: (4, 2),
    }


def test_january_keeps_its_figure_once_version_2_is_in_force(versioned: Workspace) -> None:
    january = FunnelQuestion.parse(start=d(1, 1), end=d(2, 1))
    before = ask(versioned, january.model_copy(update={"as_of": d(1, 31)}))
    after = ask(versioned, january.model_copy(update={"as_of": AS_OF}))
    assert mqls({"rows": [{**r, "period": "all"} for r in before["rows"]]}) == {"all": 1}
    assert mqls({"rows": [{**r, "period": "all"} for r in after["rows"]]}) == {"all": 1}
    assert before["counted_under"] == [{"version": 1, "from": None, "until": None}]
    assert after["counted_under"] == [{"version": 1, "from": None, "until": "2026-02-01"}]
