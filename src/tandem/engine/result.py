"""Typed results: what every engine function returns, whatever the backend."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tandem.engine.compiled import CompiledQuery, QueryTarget, cached_query, fetch_arrow, fetch_rows, paused_gc
from tandem.engine.spec import FunnelSpec

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd
    import pyarrow as pa

__all__ = ["Result"]


@dataclass
class Result:
    """A computed table with its provenance.

    The query runs once, on the backend that holds the data, when the rows are first asked for; the definition
    version and the backend that produced it travel with it, and ``sql`` shows the query with its moments in place.

    A result made from a compiled query (`tandem.engine.compiled`) runs that query's SQL and builds no Ibis
    expression unless ``expr`` is asked for (then from `spec`, by the same function that built the query); one
    made from an expression (``_expr``) compiles it. `_target` is the warehouse it runs on.
    """

    kind: str
    definition_version: int
    backend: str
    spec: Any
    _target: QueryTarget | None = field(repr=False, default=None)
    _expr: ir.Table | None = field(repr=False, default=None)
    _build: Callable[[Any], ir.Table] | None = field(repr=False, default=None)
    _query: CompiledQuery | None = field(repr=False, default=None)
    _arrow: pa.Table | None = field(default=None, repr=False)
    _sql: str | None = field(default=None, repr=False)
    #: Which definitions version counts which stretch of time (a `tandem.definitions.counting.Counting`, typed
    #: loosely: the engine does not depend on the definitions package); None for results read from deals.
    counting: Any = field(default=None, repr=False)

    @property
    def expr(self) -> ir.Table:
        """The result as an Ibis expression (to refine it further: select, filter, count...)."""
        if self._expr is None:
            assert self._build is not None, "a Result needs an expression or a way to build one"
            self._expr = self._build(self.spec)
        return self._expr

    @property
    def sql(self) -> str:
        """The SQL the backend runs for this result, in its dialect, with the result's moments in place."""
        if self._sql is None:
            if self._query is not None:
                assert self._target is not None
                self._sql = self._query.bind(self._target, self.spec)
            elif self._target is not None:  # as Ibis compiles what it runs
                self._sql = str(self._target.con.compile(self.expr))
            else:
                import ibis

                self._sql = str(ibis.to_sql(self.expr))
        return self._sql

    @property
    def columns(self) -> tuple[str, ...]:
        """The result's column names, in order (from the compiled query: nothing is built or run to say)."""
        if self._query is not None:
            return self._query.columns
        return tuple(self.expr.columns)

    @property
    def breakdown(self) -> tuple[str, ...]:
        """The breakdown's columns as the result names them, in the order of ``spec.by``: each column's own name,
        or ``by_<name>`` when the result has a column of that name (``stage``, ``period``...: see
        `tandem.engine.entries.breakdown_names`). Every result puts them first."""
        return self.columns[: len(getattr(self.spec, "by", ()))]

    def to_arrow(self) -> pa.Table:
        if self._arrow is None:
            if self._query is not None:
                assert self._target is not None
                self._arrow = fetch_arrow(self._target, self.sql, self._query)
            else:
                self._arrow = self.expr.to_pyarrow()
        return self._arrow

    @classmethod
    def for_question(
        cls,
        kind: str,
        target: QueryTarget,
        spec: FunnelSpec,
        build: Callable[[FunnelSpec], ir.Table],
        *,
        reads: Sequence[str],
        shape: tuple[Hashable, ...] = (),
        definition_version: int,
        backend: str,
    ) -> Result:
        """The `kind` question `spec` on `target`, its SQL compiled once per shape (`tandem.engine.compiled`).

        `build` makes the question's expression from a spec (any spec of the same shape: the moments are swapped);
        `reads` names the tables it reads and `shape` whatever else its SQL depends on that `spec` does not say
        (the definitions its stage events are counted under, a drill-down's filter...). Both go into the key.
        """
        query = cached_query(kind, target, spec, build, reads, shape)
        expr = None
        if query is None:  # a shape that cannot be rebound: built (and compiled when run) for each question
            with paused_gc():
                expr = build(spec)
        return cls(kind, definition_version, backend, spec, _target=target, _expr=expr, _build=build, _query=query)

    def to_pandas(self) -> pd.DataFrame:
        return self.to_arrow().to_pandas()

    def rows(self) -> list[dict[str, Any]]:
        """Rows as plain Python values: NaN becomes None, timestamps stay datetimes.

        On DuckDB, a compiled query whose columns DuckDB gives as the very values Arrow would (`plain_rows`) is
        fetched straight as Python rows: the same values, without Arrow.
        """
        query, target = self._query, self._target
        if self._arrow is None and query is not None and query.plain_rows and target is not None and target.duckdb:
            found = fetch_rows(target, self.sql)
        else:
            found = self.to_arrow().to_pylist()
        return [{k: _plain(v) for k, v in row.items()} for row in found]

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
