"""Writing results for people and programs: JSON-ready values and spreadsheet-safe CSV."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import IO, Any

from tandem.money import format_money

__all__ = ["format_number", "json_value", "neutralise", "write_csv"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def format_number(value: Any, style: str = "int") -> str:
    """A number as tables show it, on the terminal and on pages; blank for none.

    Styles: ``int`` a count, whole (``1,102``: a count has no fraction; an expected value uses ``expected``),
    ``expected`` an expected count (``≈ 1,102``; under 10 to a tenth, ``≈ 5.8``, as a fraction of a deal counts),
    ``pct`` (``12.5%``), ``days`` (``3.5``), ``money`` in the workspace's currency (`tandem.money.format_money`:
    ``$172,222``).
    """
    if value is None:
        return ""
    if style == "pct":
        return f"{value:.1%}"
    if style == "days":
        return f"{value:.1f}"
    if style == "money":
        return format_money(value)
    if style == "expected":  # under 10 a tenth still says something (0.3 deals is not none)
        return f"≈ {value:.1f}" if abs(value) < 10 and round(value, 1) != round(value) else f"≈ {_whole(value)}"
    return _whole(value)


def _whole(value: Any) -> str:
    """``1,102`` (half away from zero; never ``-0``)."""
    if isinstance(value, int):
        return f"{value:,}"
    whole = int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return f"{whole:,}"


def neutralise(value: str | None) -> str | None:
    """Defuse spreadsheet formulas: text starting with =, +, -, @ gets a leading apostrophe (numbers do not)."""
    if value and value.startswith(_FORMULA_START) and not re.fullmatch(r"[+-]?[0-9.]+(e[+-]?[0-9]+)?", value):
        return "'" + value
    return value


def json_value(value: Any) -> Any:
    """A value JSON can hold: NaN -> null, a midnight timestamp -> its date, other timestamps -> ISO 8601."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, datetime):
        if value.hour == value.minute == value.second == value.microsecond == 0:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def write_csv(stream: IO[str], columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    """CSV with a header; text cells neutralised, missing values empty."""
    writer = csv.writer(stream)
    writer.writerow(columns)
    for row in rows:
        cells = []
        for column in columns:
            value = json_value(row.get(column))
            cells.append("" if value is None else neutralise(value) if isinstance(value, str) else value)
        writer.writerow(cells)
