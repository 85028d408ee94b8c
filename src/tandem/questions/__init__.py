"""Questions and documents: the one layer the command line, the REST API, the pages and the Python API share.

Each kind of answer is one frozen `Question` subclass (validated once, naming the field at fault), one document it
computes (`Question.document`), and a declaration of what it reads (for the server's cache)::

    from tandem.questions import ask, FunnelQuestion
    document = ask(ws, FunnelQuestion.parse(by=["channel"], period="month", start="2026-01-01"))

`--format json`, ``GET /api/<kind>`` and the pages serve that one document; the CLI's table and the page only
render it. See docs/architecture.md.
"""

from __future__ import annotations

import importlib
import json
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from tandem.questions.base import Question

# Every other name is loaded on first use (`__getattr__`): a command asks one kind, and importing every kind's
# domain (accounts, plans, the forecast's models) would cost it a third of a second.
_HOMES: dict[str, str] = {
    **dict.fromkeys(
        [
            "AlertsQuestion",
            "AuditQuestion",
            "AuditVerifyQuestion",
            "ImportsQuestion",
            "TokensQuestion",
            "UsersQuestion",
        ],
        "admin",
    ),
    **dict.fromkeys(
        ["DefinitionsQuestion", "ImpactQuestion", "ProposalsQuestion", "SignalQuestion", "SuggestionsQuestion"],
        "definitions",
    ),
    **dict.fromkeys(["BacktestQuestion", "ForecastQuestion", "WarningsQuestion"], "forecast"),
    **dict.fromkeys(
        [
            "FunnelQuestion",
            "LeadsQuestion",
            "MarketingShareQuestion",
            "PipelineQuestion",
            "QualityQuestion",
            "RevenueQuestion",
            "VelocityQuestion",
        ],
        "funnel",
    ),
    **dict.fromkeys(
        [
            "GoalQuestion",
            "GoalsQuestion",
            "PacingQuestion",
            "PlanQuestion",
            "PlansQuestion",
            "ScenariosQuestion",
            "WaterfallQuestion",
        ],
        "plan",
    ),
    "AttributionDealsQuestion": "attribution",
    "AttributionQuestion": "attribution",
    "MarketingShareQuestion": "attribution",
    "RoiQuestion": "returns",
    "SlaQuestion": "sla",
    "SlaQueueQuestion": "sla",
    "SlaSummaryQuestion": "sla",
    "StatusQuestion": "status",
    "STATE": "base",
    "parse_moment": "base",
    "parse_where": "base",
}
#: The modules that define kinds: importing them all fills `KINDS`.
_KIND_MODULES = ("admin", "attribution", "definitions", "forecast", "funnel", "plan", "returns", "sla", "status")


def __getattr__(name: str) -> Any:
    if name == "KINDS":  # every kind, by name: each module registers its own on import
        for module in _KIND_MODULES:
            importlib.import_module(f"tandem.questions.{module}")
        return importlib.import_module("tandem.questions.base").KINDS
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tandem.questions' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tandem.questions.{home}"), name)


if TYPE_CHECKING:
    from tandem.questions.admin import (
        AlertsQuestion,
        AuditQuestion,
        AuditVerifyQuestion,
        ImportsQuestion,
        TokensQuestion,
        UsersQuestion,
    )
    from tandem.questions.attribution import AttributionDealsQuestion, AttributionQuestion, MarketingShareQuestion
    from tandem.questions.base import KINDS, STATE, Question, parse_moment, parse_where
    from tandem.questions.definitions import (
        DefinitionsQuestion,
        ImpactQuestion,
        ProposalsQuestion,
        SignalQuestion,
        SuggestionsQuestion,
    )
    from tandem.questions.forecast import BacktestQuestion, ForecastQuestion, WarningsQuestion
    from tandem.questions.funnel import (
        FunnelQuestion,
        LeadsQuestion,
        PipelineQuestion,
        QualityQuestion,
        RevenueQuestion,
        VelocityQuestion,
    )
    from tandem.questions.plan import (
        GoalQuestion,
        GoalsQuestion,
        PacingQuestion,
        PlanQuestion,
        PlansQuestion,
        ScenariosQuestion,
        WaterfallQuestion,
    )
    from tandem.questions.returns import RoiQuestion
    from tandem.questions.sla import SlaQuestion, SlaQueueQuestion
    from tandem.questions.status import StatusQuestion
    from tandem.workspace import Workspace


__all__ = [
    "KINDS",
    "STATE",
    "AlertsQuestion",
    "AttributionDealsQuestion",
    "AttributionQuestion",
    "AuditQuestion",
    "AuditVerifyQuestion",
    "BacktestQuestion",
    "DefinitionsQuestion",
    "ForecastQuestion",
    "FunnelQuestion",
    "GoalQuestion",
    "GoalsQuestion",
    "ImpactQuestion",
    "ImportsQuestion",
    "LeadsQuestion",
    "MarketingShareQuestion",
    "PacingQuestion",
    "PipelineQuestion",
    "PlanQuestion",
    "PlansQuestion",
    "ProposalsQuestion",
    "QualityQuestion",
    "Question",
    "RevenueQuestion",
    "RoiQuestion",
    "ScenariosQuestion",
    "SignalQuestion",
    "SlaQuestion",
    "SlaQueueQuestion",
    "SlaSummaryQuestion",
    "StatusQuestion",
    "SuggestionsQuestion",
    "TokensQuestion",
    "UsersQuestion",
    "VelocityQuestion",
    "WarningsQuestion",
    "WaterfallQuestion",
    "ask",
    "parse_moment",
    "parse_where",
    "plain",
]


def plain(document: Any) -> Any:
    """A document as JSON values only (moments as ISO 8601 text): what every front end serves."""
    return json.loads(json.dumps(document, default=_iso, allow_nan=False))


def _iso(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def ask(ws: Workspace, question: Question) -> dict[str, Any]:
    """The question's document: checked against the workspace, computed, and made plain JSON."""
    question.check(ws)
    document: dict[str, Any] = plain(question.answer(ws))
    if question.money:
        document["currency"] = str(ws.settings["currency"])
    return document
