"""Typed results: what every engine function returns, whatever the backend."""

from __future__ import annotations

import math
from collections.abc import Callable
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
    #: The same question as one self-contained expression, when `expr` reads intermediate results cached on the
    #: backend; built only when `sql` is asked for.
    explain: Callable[[], ir.Table] | None = field(default=None, repr=False)
    #: Drops what `expr` cached on the backend, once the rows are fetched.
    release: Callable[[], None] | None = field(default=None, repr=False)

    @property
    def sql(self) -> str:
        """The SQL of this result as one query, in the backend's dialect."""
        expr = self.explain() if self.explain is not None else self.expr
        if self._con is not None and hasattr(self._con, "compile"):
            return str(self._con.compile(expr))
        import ibis

        return str(ibis.to_sql(expr))

    def to_arrow(self) -> pa.Table:
        if self._arrow is None:
            try:
                self._arrow = self.expr.to_pyarrow()
            finally:
                if self.release is not None:
                    self.release()
                    self.release = None
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
