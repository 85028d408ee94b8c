"""Business seconds in the warehouse agree with the Python clock to the second, on DuckDB, PostgreSQL and Spark.

The pairs are drawn with a fixed seed over 2026, so they cross both of New York's and Berlin's DST changes, the
US and Berlin holidays, the emea lunch break and the nights team's night shift; some instants carry a fraction
of a second (every backend and the Python clock drop it), one is null, one pair runs backwards.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path

import ibis
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tandem.errors import ConfigError
from tandem.sla.calendar import business_seconds
from tandem.sla.table import calendar_rows, calendar_table, with_business_seconds

from ..backends import Backend
from .calendars import AMER, EMEA, NIGHTS, utc

TEAMS = {c.team: c for c in (AMER, EMEA, NIGHTS)}
FIRST_DAY, LAST_DAY = date(2026, 1, 1), date(2026, 12, 31)


def random_pairs(count: int) -> list[dict[str, object]]:
    """`count` rows (id, team, start, end): a start anywhere in 2026's middle ten months, an end up to 10 days on."""
    draw = random.Random(17)
    rows: list[dict[str, object]] = []
    for index in range(count):
        start = datetime(2026, 2, 1) + timedelta(seconds=draw.randrange(300 * 86400))
        end = start + timedelta(seconds=draw.randrange(10 * 86400))
        if index % 4 == 0:
            start += timedelta(microseconds=draw.randrange(1, 1_000_000))
            end += timedelta(microseconds=draw.randrange(1, 1_000_000))
        rows.append({"id": index, "team": draw.choice(sorted(TEAMS)), "start": start, "end": end})
    return rows


PAIRS = [
    *random_pairs(30),
    # Both DST changes in New York, inside the night shift: 5 h and 7 h of real time.
    {"id": 100, "team": "nights", "start": utc(2026, 3, 8, 5), "end": utc(2026, 3, 8, 10)},
    {"id": 101, "team": "nights", "start": utc(2026, 11, 1, 4), "end": utc(2026, 11, 1, 11)},
    # Backwards: negative, as in Python.
    {"id": 102, "team": "amer", "start": utc(2026, 6, 10, 14), "end": utc(2026, 6, 10, 13)},
    {"id": 103, "team": "emea", "start": None, "end": utc(2026, 6, 10, 13)},
]
SCHEMA = pa.schema(
    [("id", pa.int64()), ("team", pa.string()), ("start", pa.timestamp("us")), ("end", pa.timestamp("us"))]
)


def expected(row: dict[str, object]) -> int | None:
    start, end = row["start"], row["end"]
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        return None
    return business_seconds(TEAMS[str(row["team"])], start, end)


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sla") / "pairs.parquet"
    pq.write_table(pa.Table.from_pylist(PAIRS, schema=SCHEMA), path)
    return path


def test_business_seconds_in_the_warehouse_match_python(backend: Backend, pairs_file: Path) -> None:
    """Three teams in one calendar table, each row measured with its team's calendar."""
    calendar = calendar_table(TEAMS.values(), FIRST_DAY, LAST_DAY)
    with backend.parquet_table(pairs_file, "pairs") as pairs:
        counted = with_business_seconds(pairs, "start", "end", calendar, team="team")
        assert counted.columns == ("id", "team", "start", "end", "business_seconds")
        result = counted.select("id", "business_seconds").to_pyarrow().to_pylist()

    got = {row["id"]: row["business_seconds"] for row in result}
    assert got == {row["id"]: expected(row) for row in PAIRS}
    assert (got[100], got[101], got[102], got[103]) == (18000, 25200, -3600, None)


def test_one_team_needs_no_team_column_and_outside_the_table_is_null(backend: Backend, tmp_path: Path) -> None:
    """amer alone over June 2026: Wednesday 06-10 09:00-17:00 EDT is 8 h; an instant before June is outside the
    table, so its business seconds are null rather than a wrong count."""
    path = tmp_path / "clocks.parquet"
    clocks = [
        {"id": 1, "start": utc(2026, 6, 10, 13), "end": utc(2026, 6, 10, 21)},
        {"id": 2, "start": utc(2026, 5, 29, 13), "end": utc(2026, 6, 10, 21)},
    ]
    pq.write_table(
        pa.Table.from_pylist(clocks, schema=pa.schema([SCHEMA.field(n) for n in ("id", "start", "end")])), path
    )
    calendar = calendar_table(AMER, date(2026, 6, 1), date(2026, 6, 30))
    with backend.parquet_table(path, "clocks") as table:
        counted = with_business_seconds(table, "start", "end", calendar, name="waited")
        result = counted.select("id", "waited").order_by("id").to_pyarrow().to_pylist()

    assert result == [{"id": 1, "waited": 28800}, {"id": 2, "waited": None}]


def test_the_calendar_table_tiles_the_days_it_covers() -> None:
    """emea on Friday 2026-06-12 (CEST): a leading empty row from local midnight (22:00 UTC the day before) carries
    B = 0, then the two windows; each row's next_s is the following row's start, the last one local midnight."""
    rows = calendar_rows(EMEA, date(2026, 6, 12), date(2026, 6, 12))
    epoch = datetime(1970, 1, 1)

    def seconds(*parts: int) -> int:
        return int((utc(*parts) - epoch).total_seconds())

    assert [(r["start_s"], r["end_s"], r["next_s"], r["cumulative"]) for r in rows] == [
        (seconds(2026, 6, 11, 22), seconds(2026, 6, 11, 22), seconds(2026, 6, 12, 7), 0),
        (seconds(2026, 6, 12, 7), seconds(2026, 6, 12, 10, 30), seconds(2026, 6, 12, 11, 30), 0),
        (seconds(2026, 6, 12, 11, 30), seconds(2026, 6, 12, 16), seconds(2026, 6, 12, 22), 12600),
    ]


def test_the_calendar_table_and_its_join_refuse_what_they_cannot_count() -> None:
    with pytest.raises(ConfigError, match=r"^calendar table: team 'amer' has several calendars; "):
        calendar_table([AMER, AMER], FIRST_DAY, LAST_DAY)
    with pytest.raises(ConfigError, match=r"^calendar 'amer': the last day 2026-01-01 comes before the first"):
        calendar_rows(AMER, date(2026, 1, 2), date(2026, 1, 1))
    table = ibis.table({"a": "timestamp", "b": "timestamp"}, name="t")
    calendar = calendar_table(AMER, FIRST_DAY, FIRST_DAY)
    with pytest.raises(ConfigError, match=r"^business seconds: no column 'c' in the table; its columns are a, b$"):
        with_business_seconds(table, "a", "c", calendar)
    with pytest.raises(ConfigError, match=r"^business seconds: the table already has a column 'a'; "):
        with_business_seconds(table, "a", "b", calendar, name="a")
