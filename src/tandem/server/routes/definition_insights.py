"""What the data says about the definitions: the weekly loosening signal and suggestions from data (REST).

Both are read-only questions (`tandem.questions.SignalQuestion`, `SuggestionsQuestion`) answered through the
server's result cache, keyed by the data version of the tables they read and the definition version, like every
other figure; they are the documents `tandem definitions signal` and `suggest` print with ``--format json``, and
the Definitions page shows the signal from its document.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from tandem.accounts import Permission
from tandem.questions import SignalQuestion, SuggestionsQuestion
from tandem.questions.definitions import MAX_TOP
from tandem.server.access import GuardedRoute, access
from tandem.server.refusals import INVALID, SIGNED_IN
from tandem.server.state import ServerState

router = APIRouter(route_class=GuardedRoute, responses=INVALID)

AsOf = Annotated[
    str | None,
    Query(max_length=64, description="Observe the data as of this moment (ISO 8601, UTC; default now)."),
]
Weeks = Annotated[int, Query(ge=1, le=52, description="Recent span, in complete weeks.")]
BaselineWeeks = Annotated[int, Query(ge=1, le=104, description="Baseline span: the weeks before the recent ones.")]
# Checked by the question (1 to 365), which names it: the funnel's `window` is another parameter.
WindowDays = Annotated[
    str | None,
    Query(
        max_length=16, description="Days an MQL has to reach the next stage, 1 to 365 (default: signal_window_days)."
    ),
]
HistoryWeeks = Annotated[
    int, Query(ge=1, le=104, description="Readings in `history`: the Mondays before as_of, then as_of itself.")
]
Top = Annotated[int, Query(ge=1, le=MAX_TOP, description="How many attributes to list.")]
SuggestStage = Annotated[
    str | None, Query(max_length=100, description="The stage the threshold curve is for (default: the MQL stage).")
]


@router.get("/api/definitions/signal", openapi_extra=access(Permission.READ), tags=["definitions"], responses=SIGNED_IN)
def api_definitions_signal(
    request: Request,
    as_of: AsOf = None,
    weeks: Weeks = 4,
    baseline_weeks: BaselineWeeks = 12,
    window_days: WindowDays = None,
    history_weeks: HistoryWeeks = 12,
) -> dict[str, Any]:
    """The weekly loosening signal: MQL volume rising while acceptance by sales falls (`tandem definitions signal`).

    `status` is flag, ok or "not enough data"; `sentence` says it in words; `volume` and `acceptance` hold each
    test's counts, rates, effect and p-value; `weeks` the weekly series behind them, each week with the span it
    belongs to in each test; `history` what the signal said as of each Monday before (for a chart).
    """
    question = SignalQuestion.parse(
        as_of=as_of,
        weeks=weeks,
        baseline_weeks=baseline_weeks,
        signal_window_days=window_days or None,
        history_weeks=history_weeks,
    )
    state: ServerState = request.app.state.tandem
    return state.answer(question)


def signal_document(state: ServerState) -> dict[str, Any]:
    """The signal as of now with the documented settings: what the Definitions page shows."""
    return state.answer(SignalQuestion())


@router.get(
    "/api/definitions/suggestions",
    openapi_extra=access(Permission.READ),
    tags=["definitions"],
    responses=SIGNED_IN,
)
def api_definitions_suggestions(
    request: Request, as_of: AsOf = None, top: Top = 10, stage: SuggestStage = None
) -> dict[str, Any]:
    """Suggestions from data (`tandem definitions suggest`): the attributes that predict won with their effect, the
    model's held-out AUC, and the threshold curve of its score for a stage. It never changes the definitions."""
    state: ServerState = request.app.state.tandem
    return state.answer(SuggestionsQuestion.parse(as_of=as_of, top=top, stage=stage))
