"""Alerts: rules over the forecast's signals, delivered by webhook and email once per signal per period.

`load_rules` reads ``alerts.yaml`` (`tandem.alerts.rules`); `Alerts.run` judges signal readings by the rules and
delivers what fires, keeping a history in the application database that makes runs idempotent and failed
deliveries retried (`tandem.alerts.service`); `tandem.alerts.delivery` writes the payload and sends it;
`tandem.alerts.history` names the history's statuses. docs/alerts.md describes the file, the payload and the
semantics for operators.

Each name is loaded on first use (PEP 562), so that importing a light module of the package
(`tandem.alerts.history`, which the command line reads at start-up) does not load the rules' YAML and Pydantic,
the service's SQLAlchemy or the delivery's mail client.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tandem.alerts.delivery import PASSWORD_ENV, DeliveryError, alert_payload, alert_text, deliver
    from tandem.alerts.history import HISTORY_STATUSES, MAX_HISTORY
    from tandem.alerts.rules import (
        RULES_FILE,
        SIGNAL_KINDS,
        AlertRule,
        AlertRules,
        AlertRulesError,
        Destination,
        load_rules,
    )
    from tandem.alerts.service import OUTCOMES, AlertOutcome, AlertRecord, Alerts, RunReport, Skipped

__all__ = [
    "HISTORY_STATUSES",
    "MAX_HISTORY",
    "OUTCOMES",
    "PASSWORD_ENV",
    "RULES_FILE",
    "SIGNAL_KINDS",
    "AlertOutcome",
    "AlertRecord",
    "AlertRule",
    "AlertRules",
    "AlertRulesError",
    "Alerts",
    "DeliveryError",
    "Destination",
    "RunReport",
    "Skipped",
    "alert_payload",
    "alert_text",
    "deliver",
    "load_rules",
]

#: Public name -> the module of the package it is loaded from on first use.
_LAZY: dict[str, str] = {
    **dict.fromkeys(["PASSWORD_ENV", "DeliveryError", "alert_payload", "alert_text", "deliver"], "delivery"),
    **dict.fromkeys(["HISTORY_STATUSES", "MAX_HISTORY"], "history"),
    **dict.fromkeys(
        ["RULES_FILE", "SIGNAL_KINDS", "AlertRule", "AlertRules", "AlertRulesError", "Destination", "load_rules"],
        "rules",
    ),
    **dict.fromkeys(["OUTCOMES", "AlertOutcome", "AlertRecord", "Alerts", "RunReport", "Skipped"], "service"),
}


def __getattr__(name: str) -> Any:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'tandem.alerts' has no attribute {name!r}") from None
    value = getattr(import_module(f"tandem.alerts.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
