"""Typed results: what every engine function returns, whatever the backend."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

__all__ = ["Result"]


@dataclass
class Result:
    """A computed table with its provenance.

    The expression runs once, on the backend that holds the data, when the rows are first asked for; the
    definition version and the backend that produced it travel with it, and ``sql`` shows the query.
    """

    kind: str
    expr: ir.Table
    definition_version: int
    backend: str
    spec: Any
    _con: Any = field(repr=False, default=None)
    _arrow: pa.Table | None = field(default=None, repr=False)

    @property
    def sql(self) -> str:
        """The SQL the backend runs for this result, in its dialect."""
        if self._con is not None and hasattr(self._con, "compile"):
            return str(self._con.compile(self.expr))
        import ibis

        return str(ibis.to_sql(self.expr))

    def to_arrow(self) -> pa.Table:
        if self._arrow is None:
            self._arrow = self.expr.to_pyarrow()
        return self._arrow

    def to_pandas(self) -> pd.DataFrame:
        return self.to_arrow().to_pandas()

    def rows(self) -> list[dict[str, Any]]:
        """Rows as plain Python values: NaN becomes None, timestamps stay datetimes."""
        return [{k: _plain(v) for k, v in row.items()} for row in self.to_arrow().to_pylist()]

    def __len__(self) -> int:
        return int(self.to_arrow().num_rows)

    def _repr_html_(self) -> str:
        caption = (
            f"<p><b>{self.kind}</b> &middot; definition version {self.definition_version} &middot; "
            f"{self.backend} &middot; {len(self):,} rows</p>"
        )
        table: str = self.to_pandas().head(200).to_html(index=False, na_rep="null")
        return caption + table


def _plain(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value
