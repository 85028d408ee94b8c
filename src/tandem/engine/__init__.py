"""The engine: pure functions from (warehouse tables, definitions, a spec) to Ibis expressions and results.

Nothing here pulls raw rows into Python: every metric is one Ibis expression, run by the backend that holds the
data (DuckDB, PostgreSQL or Spark). The rules are in docs/funnel-semantics.md.

The names below are loaded on first use: importing `tandem.engine.spec` or `tandem.engine.compiled` (what the
command line needs to answer from a stored query) must not import Ibis.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tandem.engine.funnel import FUNNEL_COLUMNS, funnel_table
    from tandem.engine.result import Result
    from tandem.engine.spec import FunnelSpec

__all__ = ["FUNNEL_COLUMNS", "FunnelSpec", "Result", "funnel_table"]

_HOMES = {
    "FUNNEL_COLUMNS": "tandem.engine.funnel",
    "funnel_table": "tandem.engine.funnel",
    "Result": "tandem.engine.result",
    "FunnelSpec": "tandem.engine.spec",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tandem.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
