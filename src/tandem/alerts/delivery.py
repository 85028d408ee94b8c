"""Delivering one alert: the document it carries, and the two ways it travels (webhook, email).

Webhook: an HTTP POST of the JSON payload (`alert_payload`), whose ``text`` field is one plain sentence, so a Slack
(or Mattermost, Teams workflow, ...) incoming webhook shows it as is, and whose other fields carry the rule and the
signal for programs. The header ``Idempotency-Key`` holds the alert's key: a receiver that sees one twice (a
retried send whose first answer got lost) can drop it. A 2xx answer is delivered; anything else (another status,
a redirect, which is not followed, a timeout, a refused connection) is a failure with its reason.

Email: one plain-text message to all the destination's addresses over SMTP, through the server the
``alert_smtp_*`` settings name, upgraded with STARTTLS when asked. The password is read only from
``$TANDEM_SMTP_PASSWORD`` when a send happens, so it is never in a file, the database or the payload.
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from tandem.alerts.rules import AlertRule, Destination
from tandem.forecast.signals import Signal
from tandem.money import format_whole
from tandem.version import __version__

__all__ = [
    "PASSWORD_ENV",
    "DeliveryError",
    "PartlyDelivered",
    "alert_key",
    "alert_payload",
    "alert_text",
    "deliver",
    "format_value",
]

PASSWORD_ENV = "TANDEM_SMTP_PASSWORD"  # noqa: S105 - the variable's name, not a password
#: How much of a failing webhook's answer is kept as the reason.
_BODY_SHOWN = 300


class DeliveryError(Exception):
    """One try failed; the message is the reason the history keeps (never a password or a URL's path)."""


class PartlyDelivered(DeliveryError):
    """Some recipients took the message: counted as delivered (retrying would send it twice to the others)."""


def alert_key(rule: AlertRule, signal: Signal) -> str:
    """The alert's identity: rule and signal key (kind, subject, period). One alert per key per destination."""
    return f"{rule.name}:{signal.key}"


def format_value(value: float, unit: str) -> str:
    """A reading or threshold as people read it: a share as a percentage, an amount with separators."""
    if unit == "share":
        return f"{value * 100:.0f} %"
    if unit == "amount":
        return format_whole(value)
    if unit == "count":
        return f"{value:,.0f}"
    return f"{value:.2f}"


def alert_text(rule: AlertRule, signal: Signal) -> str:
    """The one sentence a chat message or an email subject starts from."""
    place = " · ".join(part for part in (rule.name, signal.subject, signal.period) if part)
    threshold = format_value(rule.threshold, signal.unit)
    return f"[tandem] {place}: {signal.message} (threshold: {rule.direction} {threshold})"


def alert_payload(
    rule: AlertRule, signal: Signal, *, destination: str, workspace: str, fired_at: datetime
) -> dict[str, Any]:
    """The webhook's JSON document (also stored in the history, and what the email is written from)."""
    return {
        "text": alert_text(rule, signal),
        "alert": alert_key(rule, signal),
        "rule": rule.name,
        "condition": {rule.direction: rule.threshold, "min_sample": rule.min_sample},
        "signal": signal.as_dict(),
        "period": signal.period,
        "workspace": workspace,
        "destination": destination,
        "fired_at": fired_at.isoformat(timespec="seconds") + "Z",
    }


def deliver(destination: Destination, payload: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
    """Make one try at delivering `payload` to `destination`; raise `DeliveryError` with the reason if it failed."""
    timeout = float(settings["alert_timeout_seconds"])
    if destination.webhook is not None:
        _post(destination.webhook, payload, timeout)
    else:
        _mail(destination.email or (), payload, settings, timeout)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer other than 2xx: a failure, not a second POST somewhere else."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _post(url: str, payload: Mapping[str, Any], timeout: float) -> None:
    body = json.dumps(payload, ensure_ascii=False, default=str).encode()
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked to be http(s) when the rules are read
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"tandem/{__version__}",
            "Idempotency-Key": str(payload.get("alert", "")),
        },
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            status = response.status
            response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            answer = exc.read(_BODY_SHOWN).decode("utf-8", "replace").strip()
        raise DeliveryError(f"HTTP {exc.code} {exc.reason}" + (f": {answer}" if answer else "")) from None
    except urllib.error.URLError as exc:
        raise DeliveryError(f"cannot reach the webhook: {exc.reason}") from None
    except TimeoutError:
        raise DeliveryError(f"the webhook did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise DeliveryError(f"the webhook connection failed: {exc}") from None
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status}")


def _mail(addresses: tuple[str, ...], payload: Mapping[str, Any], settings: Mapping[str, Any], timeout: float) -> None:
    message = EmailMessage()
    message["From"] = str(settings["alert_smtp_from"])
    message["To"] = ", ".join(addresses)
    message["Subject"] = str(payload["text"])
    message["Message-ID"] = make_msgid(domain="tandem")
    message["X-Tandem-Alert"] = str(payload.get("alert", ""))
    message.set_content(_mail_body(payload))
    host, port = str(settings["alert_smtp_host"]), int(settings["alert_smtp_port"])
    user = str(settings["alert_smtp_user"])
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as smtp:
            if settings["alert_smtp_starttls"]:
                smtp.starttls(context=ssl.create_default_context())
            if user:
                password = os.environ.get(PASSWORD_ENV)
                if password is None:
                    raise DeliveryError(f"alert_smtp_user is {user!r} but ${PASSWORD_ENV} is not set")
                smtp.login(user, password)
            refused = smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"the SMTP server refused every recipient: {_refusals(exc.recipients)}") from None
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"the SMTP server refused the sign-in of {user!r}: {exc.smtp_code}") from None
    except smtplib.SMTPResponseException as exc:
        reason = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        raise DeliveryError(f"the SMTP server answered {exc.smtp_code}: {reason}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"cannot send through SMTP {host}:{port}: {exc or type(exc).__name__}") from None
    if refused:
        # Some addresses took it: the alert is delivered; the rest are named so someone fixes them.
        raise PartlyDelivered(f"some recipients were refused: {_refusals(refused)}")


def _refusals(recipients: Mapping[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{address} ({code} {reason.decode('utf-8', 'replace')})" for address, (code, reason) in recipients.items()
    )


def _mail_body(payload: Mapping[str, Any]) -> str:
    signal = payload["signal"]
    condition = ", ".join(f"{key} {value}" for key, value in payload["condition"].items())
    lines = [
        str(signal["message"]),
        "",
        f"Rule:      {payload['rule']} ({condition})",
        f"Signal:    {signal['kind']}" + (f" · {signal['subject']}" if signal["subject"] else ""),
        f"Period:    {payload['period']}",
        f"Reading:   {signal['value']} {signal['unit']} from {signal['sample']} observations",
        f"Workspace: {payload['workspace']}",
        f"Fired at:  {payload['fired_at']}",
    ]
    details = signal.get("details") or {}
    if details:
        lines += ["", "Details:"] + [f"  {key}: {value}" for key, value in details.items()]
    lines += ["", "Sent by `tandem alerts run`. This alert is sent once for this period."]
    return "\n".join(lines) + "\n"
