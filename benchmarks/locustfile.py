"""Locust clients for benchmarks/bench_server.py: dashboard users cycling over the web app's page data.

Driven by bench_server.py, which discovers what to ask and passes it through the environment, so endpoints added
to the app are covered without editing this file:

* ``TANDEM_BENCH_TARGETS``: JSON list of ``{"path": "/api/funnel?by=channel", "page": false}``; a page (HTML)
  is asked with the browser session cookie, an API path with the API token;
* ``TANDEM_BENCH_TOKEN``: an API token (``tdm_...``) of a viewer;
* ``TANDEM_BENCH_SESSION``: the ``tandem_session`` cookie of the same viewer, signed in once (the sign-in rate
  limit would refuse 50 clients signing in at once, and a dashboard user signs in once anyway);
* ``TANDEM_BENCH_THINK``: mean seconds a client waits between requests (0: none, the hardest case).

Each client starts at a random place in the list and walks it in order. Anything but a 200 is a failure, a
redirect included (a page answering with a redirect to the sign-in page has lost its session).
"""

from __future__ import annotations

import json
import os
import random

from locust import FastHttpUser, between, constant, task

TARGETS: list[dict[str, object]] = json.loads(os.environ.get("TANDEM_BENCH_TARGETS", "[]"))
TOKEN = os.environ.get("TANDEM_BENCH_TOKEN", "")
SESSION = os.environ.get("TANDEM_BENCH_SESSION", "")
THINK = float(os.environ.get("TANDEM_BENCH_THINK", "0"))


class DashboardUser(FastHttpUser):
    """One person with the dashboards open, going from page to page."""

    wait_time = between(THINK / 2, THINK * 1.5) if THINK > 0 else constant(0)

    def on_start(self) -> None:
        if not TARGETS:
            raise RuntimeError("TANDEM_BENCH_TARGETS is empty: run this through benchmarks/bench_server.py")
        self.position = random.randrange(len(TARGETS))  # spreads the clients over the list

    @task
    def next_target(self) -> None:
        target = TARGETS[self.position % len(TARGETS)]
        self.position += 1
        path = str(target["path"])
        if target.get("page"):
            headers = {"Cookie": f"tandem_session={SESSION}", "Accept": "text/html"}
        else:
            headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}
        with self.client.get(path, headers=headers, name=path, allow_redirects=False, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")
            elif not r.content:
                r.failure("empty body")
