"""Real receivers on 127.0.0.1 for the alert tests: an HTTP server standing in for a webhook, an SMTP server.

Both listen on a port the system picks, one per test (tests run in parallel), and are shut down and closed when
the test ends (warnings are errors: no socket is left open).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tandem.forecast.signals import Signal


@dataclass
class Webhook:
    """A local HTTP receiver: records each POST and answers with the next status queued (200 when none is)."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def bodies(self) -> list[Any]:
        with self.lock:
            return [r["json"] for r in self.requests]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    receiver = Webhook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.lock:
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers.items()), "json": json.loads(body)}
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
            answer = b"ok" if status < 300 else b"receiver is down for maintenance"
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/T000/B000"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def free_port() -> int:
    """A port nothing listens on (just released by the system): a webhook or SMTP server that is down."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Mailbox:
    """What the local SMTP server received: each message with its envelope recipients."""

    port: int
    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)


class _Collect:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.box.messages.append(
            (list(envelope.rcpt_tos), message_from_bytes(envelope.content, _class=EmailMessage, policy=policy.default))
        )
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())
    controller = Controller(_Collect(box), hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def goal_chance(value: float = 0.38, *, period: str = "2026Q4", sample: int = 5000) -> Signal:
    return Signal(
        kind="goal_chance",
        subject="",
        period=period,
        value=value,
        unit="share",
        sample=sample,
        message=f"The chance of reaching the {period} goal is {value * 100:.0f} %",
        details={"simulations": sample, "goal": 1_200_000},
    )


def stage_pace(subject: str = "mql", value: float = 0.82, *, period: str = "2026-11", sample: int = 120) -> Signal:
    return Signal(
        kind="stage_pace",
        subject=subject,
        period=period,
        value=value,
        unit="ratio",
        sample=sample,
        message=f"{subject.upper()}s are {(1 - value) * 100:.0f} % behind plan this month",
        details={"actual": round(sample * value), "expected": sample},
    )
