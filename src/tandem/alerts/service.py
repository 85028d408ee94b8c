"""Running the alert rules over signal readings: once per signal per period, retried until delivered or given up.

What `Alerts.run` does with each (rule, reading, destination), and why:

* **Evaluate.** A rule watches one signal kind (and one subject, if it names one). A reading resting on fewer than
  ``min_sample`` observations is skipped and reported as "not enough data": a thin reading is noise, not news. A
  reading strictly beyond the threshold fires; one exactly at it does not; a reading that is not a number never
  does.
* **Claim, then send.** The history row for (rule, signal key, destination) is claimed before anything is sent: a
  new alert is inserted with status ``sending`` in its own transaction (the unique constraint makes a second
  run's insert fail, and that run leaves it alone); a failed one is taken over with a conditional update that
  only one run can win. Two runs started by cron at once therefore send an alert once.
* **Once per period.** The signal key holds the period, so an alert already ``sent`` is never sent again, however
  often the command runs; next period's reading is a new alert.
* **Retries.** A delivery is tried up to ``alert_attempts`` times in one run, waiting ``alert_retry_seconds``,
  then twice that, and so on. Still failing, it is ``failed`` and the next run tries again (while the rule still
  fires: a warning that has cleared by then is not sent late), until ``alert_max_attempts`` tries in all, when
  it is ``gave_up``. A retry sends the current reading.
* **Crashes.** A run that dies while sending leaves its row ``sending``; a later run takes it over once it has not
  moved for `STALE_CLAIM`. Such an alert may then arrive twice (the receiver can drop the copy by its
  ``Idempotency-Key``): tandem prefers a duplicate to a lost warning.

Every delivered and every given-up alert is also written to the audit log (``alert.sent``, ``alert.gave_up``) in
the transaction that records it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tandem.alerts.delivery import DeliveryError, PartlyDelivered, alert_payload, deliver
from tandem.alerts.history import HISTORY_STATUSES, check_limit, check_status
from tandem.alerts.rules import RULES_FILE, AlertRule, AlertRules, Destination, load_rules
from tandem.audit import record
from tandem.engine.spec import as_of_or_now
from tandem.errors import ConfigError
from tandem.forecast.handoff_signals import in_hours_of
from tandem.forecast.signals import Signal
from tandem.store.database import AppStore
from tandem.store.models import AlertDelivery

__all__ = [
    "HISTORY_STATUSES",
    "OUTCOMES",
    "STALE_CLAIM",
    "AlertOutcome",
    "AlertRecord",
    "Alerts",
    "RunReport",
    "Skipped",
]

#: What one run did with one alert: sent, failed or gave_up in this run; already_sent, already_gave_up or
#: in_progress (another run holds it) when nothing was tried; would_send in a dry run.
OUTCOMES = ("sent", "failed", "gave_up", "already_sent", "already_gave_up", "in_progress", "would_send")
#: A row left ``sending`` this long (no try written) belongs to a run that died; another run may take it over.
STALE_CLAIM = timedelta(minutes=15)


@dataclass(frozen=True)
class AlertOutcome:
    """What this run did with one alert for one destination."""

    rule: str
    signal_key: str
    destination: str
    outcome: str
    attempts: int
    error: str
    text: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Skipped:
    """A reading a rule watches but did not judge: too few observations (or no number) to act on."""

    rule: str
    signal_key: str
    sample: int
    min_sample: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RunReport:
    """The summary of one `Alerts.run`: each alert's outcome, readings skipped, readings under their threshold."""

    at: datetime
    dry_run: bool
    signals: int
    alerts: list[AlertOutcome] = field(default_factory=list)
    not_enough_data: list[Skipped] = field(default_factory=list)
    #: Readings a rule judged that did not cross its threshold.
    quiet: int = 0
    #: Handoff alerts held for a destination whose team is not at work (docs/alerts.md, "Whose hours").
    outside_hours: int = 0

    @property
    def failures(self) -> list[AlertOutcome]:
        """Deliveries that failed in this run (the CLI exits 1 when there are any, so cron reports them)."""
        return [a for a in self.alerts if a.outcome in ("failed", "gave_up")]

    @property
    def ok(self) -> bool:
        return not self.failures

    def count(self, outcome: str) -> int:
        return sum(1 for a in self.alerts if a.outcome == outcome)

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(timespec="seconds") + "Z",
            "dry_run": self.dry_run,
            "signals": self.signals,
            "ok": self.ok,
            "counts": {outcome: self.count(outcome) for outcome in OUTCOMES},
            "quiet": self.quiet,
            "outside_hours": self.outside_hours,
            "alerts": [a.as_dict() for a in self.alerts],
            "not_enough_data": [s.as_dict() for s in self.not_enough_data],
        }


@dataclass(frozen=True)
class AlertRecord:
    """One history row: an alert for one destination, its status, tries and the payload delivered."""

    id: int
    rule: str
    signal_key: str
    destination: str
    kind: str
    subject: str
    period: str
    channel: str
    target: str
    status: str
    attempts: int
    last_error: str
    fired_at: datetime
    last_attempt_at: datetime | None
    sent_at: datetime | None
    payload: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.payload.get("text", ""))

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class _Claimed:
    row_id: int
    attempts: int


@dataclass(frozen=True)
class _Refused:
    outcome: str
    attempts: int
    error: str


def _record(row: AlertDelivery) -> AlertRecord:
    return AlertRecord(
        id=row.id,
        rule=row.rule,
        signal_key=row.signal_key,
        destination=row.destination,
        kind=row.kind,
        subject=row.subject,
        period=row.period,
        channel=row.channel,
        target=row.target,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        fired_at=row.fired_at,
        last_attempt_at=row.last_attempt_at,
        sent_at=row.sent_at,
        payload=dict(row.payload),
    )


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Alerts:
    """The alert rules of a workspace (``alerts.yaml`` in `folder`) and the history of what they sent.

    `settings` are the workspace's (`tandem.settings`): the ``alert_*`` ones say how to send and retry. `sleep`
    waits between tries within a run (tests pass a stand-in).
    """

    def __init__(
        self,
        store: AppStore,
        folder: Path,
        *,
        workspace: str,
        settings: Mapping[str, Any],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.path = folder / RULES_FILE
        self.workspace = workspace
        self.settings = settings
        self._sleep = sleep

    def rules(self, teams: Sequence[str] | None = None) -> AlertRules:
        """The checked rules file (`AlertRulesError` lists every problem in it); with `teams` (the contract's), a
        ``team:`` that names none of them is one of the problems."""
        return load_rules(self.path, teams=teams)

    # --- running ----------------------------------------------------------------------------------------------
    def run(
        self,
        signals: Sequence[Signal],
        *,
        now: datetime | None = None,
        dry_run: bool = False,
        actor: str = "alerts",
        rules: AlertRules | None = None,
    ) -> RunReport:
        """Judge every reading in `signals` by every rule and deliver what fires (see the module's docstring).

        With `dry_run` nothing is sent or written: the report says what would be sent. `now` (naive UTC) is the
        run's moment: the alerts' fired_at and the clock for taking over a stale claim.
        """
        chosen = rules if rules is not None else self.rules()
        moment = as_of_or_now(now)
        self._check_settings()
        report = RunReport(at=moment, dry_run=dry_run, signals=len(signals))
        for rule in chosen.rules:
            for signal in signals:
                if signal.kind != rule.signal or (rule.subject is not None and signal.subject != rule.subject):
                    continue
                if not isinstance(signal.value, int | float) or not math.isfinite(signal.value):
                    report.not_enough_data.append(
                        Skipped(rule.name, signal.key, signal.sample, rule.min_sample, "the reading is not a number")
                    )
                    continue
                if signal.sample < rule.min_sample:
                    reason = f"not enough data: {signal.sample} observations, the rule needs {rule.min_sample}"
                    report.not_enough_data.append(
                        Skipped(rule.name, signal.key, signal.sample, rule.min_sample, reason)
                    )
                    continue
                if not rule.crosses(float(signal.value)):
                    report.quiet += 1
                    continue
                for name in rule.send_to:
                    if not in_hours_of(signal, chosen.team_for(rule, name)):
                        report.outside_hours += 1  # sent at the next run inside that team's hours
                        continue
                    destination = chosen.destinations[name]
                    report.alerts.append(self._alert(rule, signal, name, destination, moment, dry_run, actor))
        return report

    def _check_settings(self) -> None:
        for name in ("alert_attempts", "alert_max_attempts"):
            if int(self.settings[name]) < 1:
                raise ConfigError(f"setting {name} must be 1 or more, got {self.settings[name]}")
        for name in ("alert_retry_seconds", "alert_timeout_seconds"):
            if int(self.settings[name]) < 0 or (name == "alert_timeout_seconds" and int(self.settings[name]) == 0):
                raise ConfigError(f"setting {name} must be more than 0, got {self.settings[name]}")

    def _alert(
        self,
        rule: AlertRule,
        signal: Signal,
        name: str,
        destination: Destination,
        now: datetime,
        dry_run: bool,
        actor: str,
    ) -> AlertOutcome:
        payload = alert_payload(rule, signal, destination=name, workspace=self.workspace, fired_at=now)

        def outcome(kind: str, attempts: int, error: str = "") -> AlertOutcome:
            return AlertOutcome(rule.name, signal.key, name, kind, attempts, error, str(payload["text"]))

        if dry_run:
            with self.store.session() as s:
                row = s.scalars(self._where(rule.name, signal.key, name)).first()
            if row is None:
                return outcome("would_send", 0)
            done = {"sent": "already_sent", "gave_up": "already_gave_up"}.get(row.status)
            return outcome(done or "would_send", row.attempts, row.last_error)
        try:
            claim = self.store.write(lambda s: self._claim(s, rule, signal, name, destination, payload, now, actor))
        except IntegrityError:
            return outcome("in_progress", 0)  # another run inserted the row first: it sends
        if isinstance(claim, _Refused):
            return outcome(claim.outcome, claim.attempts, claim.error)
        row_id, attempts = claim.row_id, claim.attempts
        max_attempts = int(self.settings["alert_max_attempts"])
        tries = min(int(self.settings["alert_attempts"]), max_attempts - attempts)
        error = ""
        for index in range(tries):
            if index:
                self._sleep(float(self.settings["alert_retry_seconds"]) * 2 ** (index - 1))
            attempts += 1
            try:
                deliver(destination, payload, self.settings)
            except PartlyDelivered as exc:
                self._finish(row_id, "sent", attempts, str(exc), now, actor)
                return outcome("sent", attempts, str(exc))
            except DeliveryError as exc:
                error = str(exc)
                if index < tries - 1:
                    self._note_try(row_id, attempts, error, now)
                continue
            self._finish(row_id, "sent", attempts, "", now, actor)
            return outcome("sent", attempts)
        final = "gave_up" if attempts >= max_attempts else "failed"
        self._finish(row_id, final, attempts, error, now, actor)
        return outcome(final, attempts, error)

    @staticmethod
    def _where(rule: str, signal_key: str, destination: str) -> Any:
        return select(AlertDelivery).where(
            AlertDelivery.rule == rule,
            AlertDelivery.signal_key == signal_key,
            AlertDelivery.destination == destination,
        )

    def _claim(
        self,
        s: Session,
        rule: AlertRule,
        signal: Signal,
        name: str,
        destination: Destination,
        payload: dict[str, Any],
        now: datetime,
        actor: str,
    ) -> _Claimed | _Refused:
        """The row and its tries so far when this run may send; else the outcome saying why it may not."""
        row = s.scalars(self._where(rule.name, signal.key, name)).first()
        if row is None:
            row = AlertDelivery(
                rule=rule.name,
                signal_key=signal.key,
                destination=name,
                kind=signal.kind,
                subject=signal.subject,
                period=signal.period,
                channel=destination.channel,
                target=destination.target,
                status="sending",
                attempts=0,
                last_error="",
                payload=payload,
                fired_at=now,
                claimed_at=now,
            )
            s.add(row)
            s.flush()
            return _Claimed(row.id, 0)
        if row.status == "sent":
            return _Refused("already_sent", row.attempts, row.last_error)
        if row.status == "gave_up":
            return _Refused("already_gave_up", row.attempts, row.last_error)
        if row.status == "sending" and row.claimed_at > now - STALE_CLAIM:
            return _Refused("in_progress", row.attempts, row.last_error)
        if row.attempts >= int(self.settings["alert_max_attempts"]):
            # alert_max_attempts was lowered below the tries already made: give up without another try.
            row.status = "gave_up"
            record(s, actor, "alert.gave_up", f"alert {rule.name}:{signal.key}", self._audit_details(row))
            return _Refused("gave_up", row.attempts, row.last_error)
        taken = s.execute(
            update(AlertDelivery)
            .where(
                AlertDelivery.id == row.id,
                AlertDelivery.status == row.status,
                AlertDelivery.claimed_at == row.claimed_at,
            )
            .values(
                status="sending",
                claimed_at=now,
                payload=payload,
                channel=destination.channel,
                target=destination.target,
            )
        )
        if getattr(taken, "rowcount", 0) != 1:
            return _Refused("in_progress", row.attempts, row.last_error)
        return _Claimed(row.id, row.attempts)

    def _note_try(self, row_id: int, attempts: int, error: str, now: datetime) -> None:
        """A failed try within a run, written at once (the run may die before its end)."""

        def change(s: Session) -> None:
            s.execute(
                update(AlertDelivery)
                .where(AlertDelivery.id == row_id)
                .values(attempts=attempts, last_error=error, last_attempt_at=_later(now), claimed_at=_later(now))
            )

        self.store.write(change)

    def _finish(self, row_id: int, status: str, attempts: int, error: str, now: datetime, actor: str) -> None:
        def change(s: Session) -> None:
            row = s.get(AlertDelivery, row_id)
            assert row is not None  # rows are never deleted
            row.status = status
            row.attempts = attempts
            row.last_error = error
            row.last_attempt_at = _later(now)
            if status == "sent":
                row.sent_at = row.last_attempt_at
            if status in ("sent", "gave_up"):
                action = "alert.sent" if status == "sent" else "alert.gave_up"
                record(s, actor, action, f"alert {row.rule}:{row.signal_key}", self._audit_details(row))

        self.store.write(change)

    @staticmethod
    def _audit_details(row: AlertDelivery) -> dict[str, Any]:
        return {
            "destination": row.destination,
            "channel": row.channel,
            "target": row.target,
            "attempts": row.attempts,
            "last_error": row.last_error,
        }

    # --- history ----------------------------------------------------------------------------------------------
    def history(
        self,
        *,
        limit: int = 50,
        status: str | None = None,
        rule: str | None = None,
        period: str | None = None,
    ) -> list[AlertRecord]:
        """What was sent (or tried), newest first: at most `limit` rows (`tandem.alerts.history.MAX_HISTORY`);
        optionally only one status, rule or period. A bad status or limit is a `ConfigError` naming the field."""
        check_status(status)
        check_limit(limit)
        query = select(AlertDelivery).order_by(AlertDelivery.fired_at.desc(), AlertDelivery.id.desc()).limit(limit)
        if status is not None:
            query = query.where(AlertDelivery.status == status)
        if rule is not None:
            query = query.where(AlertDelivery.rule == rule)
        if period is not None:
            query = query.where(AlertDelivery.period == period)
        with self.store.session() as s:
            return [_record(row) for row in s.scalars(query)]


def _later(now: datetime) -> datetime:
    """When a try happened: the wall clock, but never before the run's `now` (a run may be given a past moment)."""
    return max(now, _utcnow())
