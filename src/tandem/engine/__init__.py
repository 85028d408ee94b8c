"""The engine: pure functions from (warehouse tables, definitions, a spec) to Ibis expressions and results.

Nothing here pulls raw rows into Python: every metric is one Ibis expression, run by the backend that holds the
data (DuckDB, PostgreSQL or Spark). The rules are in docs/funnel-semantics.md.
"""

from tandem.engine.funnel import FUNNEL_COLUMNS, funnel_table
from tandem.engine.result import Result
from tandem.engine.spec import FunnelSpec

__all__ = ["FUNNEL_COLUMNS", "FunnelSpec", "Result", "funnel_table"]
