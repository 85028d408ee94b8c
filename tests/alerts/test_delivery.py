"""One delivery, to real local receivers: the webhook's JSON and Slack text, the email, and failures with reasons."""

from __future__ import annotations

from datetime import datetime

import pytest

from tandem.alerts import DeliveryError, Destination, alert_payload, alert_text, deliver, load_rules
from tandem.settings import resolve_settings

from .conftest import Mailbox, Webhook, free_port, goal_chance, stage_pace

RULES = load_rules(
    """\
destinations:
  hook: {webhook: "http://127.0.0.1:1/x"}
rules:
  - {name: goal-at-risk, signal: goal_chance, below: 0.5, min_sample: 1000, send_to: [hook]}
  - {name: mql-behind, signal: stage_pace, subject: mql, below: 0.85, send_to: [hook]}
"""
)
FIRED = datetime(2026, 11, 26, 15, 30)
TEXT = "[tandem] goal-at-risk · 2026Q4: The chance of reaching the 2026Q4 goal is 38 % (threshold: below 50 %)"


def settings(**overrides: object) -> dict[str, object]:
    return {**resolve_settings({}), "alert_timeout_seconds": 5, **overrides}


def payload(destination: str = "revops") -> dict[str, object]:
    return alert_payload(
        RULES.rule("goal-at-risk"), goal_chance(), destination=destination, workspace="acme", fired_at=FIRED
    )


def test_the_text_is_one_plain_sentence_with_rule_period_and_threshold() -> None:
    assert alert_text(RULES.rule("goal-at-risk"), goal_chance()) == (
        "[tandem] goal-at-risk · 2026Q4: The chance of reaching the 2026Q4 goal is 38 % (threshold: below 50 %)"
    )
    assert alert_text(RULES.rule("mql-behind"), stage_pace()) == (
        "[tandem] mql-behind · mql · 2026-11: MQLs are 18 % behind plan this month (threshold: below 0.85)"
    )


def test_a_webhook_gets_the_json_document_with_a_slack_text_field(webhook: Webhook) -> None:
    deliver(Destination(webhook=webhook.url), payload(), settings())
    (request,) = webhook.requests
    assert request["path"] == "/hooks/T000/B000"
    assert request["headers"]["Content-Type"] == "application/json; charset=utf-8"
    assert request["headers"]["Idempotency-Key"] == "goal-at-risk:goal_chance::2026Q4"
    body = request["json"]
    assert body == {
        "text": TEXT,
        "alert": "goal-at-risk:goal_chance::2026Q4",
        "rule": "goal-at-risk",
        "condition": {"below": 0.5, "min_sample": 1000},
        "signal": goal_chance().as_dict(),
        "period": "2026Q4",
        "workspace": "acme",
        "destination": "revops",
        "fired_at": "2026-11-26T15:30:00Z",
    }


@pytest.mark.parametrize(("status", "reason"), [(500, "HTTP 500"), (404, "HTTP 404"), (302, "HTTP 302")])
def test_an_answer_other_than_2xx_is_a_failure_with_the_reason(webhook: Webhook, status: int, reason: str) -> None:
    webhook.statuses.append(status)
    with pytest.raises(DeliveryError, match=reason) as caught:
        deliver(Destination(webhook=webhook.url), payload(), settings())
    assert "receiver is down for maintenance" in str(caught.value)
    assert "/hooks/T000" not in str(caught.value)  # the secret path stays out of the history


def test_a_webhook_nobody_listens_on_is_a_failure() -> None:
    with pytest.raises(DeliveryError, match="cannot reach the webhook"):
        deliver(Destination(webhook=f"http://127.0.0.1:{free_port()}/x"), payload(), settings())


def test_an_email_goes_to_every_address_of_the_destination(smtp: Mailbox) -> None:
    destination = Destination(email=("maria@example.com", "sam@example.com"))
    deliver(destination, payload("leaders"), settings(alert_smtp_port=smtp.port, alert_smtp_from="alerts@acme.test"))
    ((recipients, message),) = smtp.messages
    assert recipients == ["maria@example.com", "sam@example.com"]
    assert message["From"] == "alerts@acme.test"
    assert message["To"] == "maria@example.com, sam@example.com"
    assert message["Subject"] == (
        "[tandem] goal-at-risk · 2026Q4: The chance of reaching the 2026Q4 goal is 38 % (threshold: below 50 %)"
    )
    assert message["X-Tandem-Alert"] == "goal-at-risk:goal_chance::2026Q4"
    body = message.get_content().replace("\r\n", "\n")
    assert body.startswith("The chance of reaching the 2026Q4 goal is 38 %\n")
    assert "Rule:      goal-at-risk (below 0.5, min_sample 1000)" in body
    assert "Reading:   0.38 share from 5000 observations" in body
    assert "  goal: 1200000" in body


def test_an_smtp_server_that_is_down_is_a_failure() -> None:
    port = free_port()
    with pytest.raises(DeliveryError, match=f"cannot send through SMTP 127.0.0.1:{port}"):
        deliver(Destination(email=("maria@example.com",)), payload(), settings(alert_smtp_port=port))


def test_a_sign_in_without_the_password_variable_fails_before_sending(
    smtp: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TANDEM_SMTP_PASSWORD", raising=False)
    with pytest.raises(DeliveryError, match=r"alert_smtp_user is 'tandem' but \$TANDEM_SMTP_PASSWORD is not set"):
        deliver(
            Destination(email=("maria@example.com",)),
            payload(),
            settings(alert_smtp_port=smtp.port, alert_smtp_user="tandem"),
        )
    assert smtp.messages == []
