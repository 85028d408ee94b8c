"""Alerts: rules over the forecast's signals, delivered by webhook and email once per signal per period.

`load_rules` reads ``alerts.yaml`` (`tandem.alerts.rules`); `Alerts.run` judges signal readings by the rules and
delivers what fires, keeping a history in the application database that makes runs idempotent and failed
deliveries retried (`tandem.alerts.service`); `tandem.alerts.delivery` writes the payload and sends it.
docs/alerts.md describes the file, the payload and the semantics for operators.
"""

from tandem.alerts.delivery import PASSWORD_ENV, DeliveryError, alert_payload, alert_text, deliver
from tandem.alerts.rules import (
    RULES_FILE,
    SIGNAL_KINDS,
    AlertRule,
    AlertRules,
    AlertRulesError,
    Destination,
    load_rules,
)
from tandem.alerts.service import (
    HISTORY_STATUSES,
    OUTCOMES,
    AlertOutcome,
    AlertRecord,
    Alerts,
    RunReport,
    Skipped,
)

__all__ = [
    "HISTORY_STATUSES",
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
