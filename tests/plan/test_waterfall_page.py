"""The Plan page shows the waterfall's warning about months already past, as the API's document words it."""

from __future__ import annotations

import html
import re
from pathlib import Path

from fastapi.testclient import TestClient

from tandem.demo_workspace import build_demo
from tandem.server import create_app

#: Every step by hand, a month apart: 2026-Q4's deals (October to December) need their leads four months earlier,
#: June to August, and their MQLs, SQLs and opportunities in between; on 15 November all of those months but
#: November and December are past.
QUESTION: dict[str, str | list[str]] = {
    "period": "2026-Q4",
    "revenue": "1M",
    "deal_size": "10k",
    "rate": ["lead:mql=0.2", "mql:sql=0.5", "sql:opportunity=0.5", "opportunity:won=0.25"],
    "lag": ["lead:mql=1m", "mql:sql=1m", "sql:opportunity=1m", "opportunity:won=1m"],
    "as_of": "2026-11-15",
}


def test_the_plan_page_shows_the_months_already_past(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    with build_demo(folder, leads=2000, seed=11, echo=lambda _line: None) as ws:
        ws.accounts.create_user("test", "val", "viewer", password="val's long password")
        _, secret = ws.accounts.create_token("test", "val", "tests")
    with TestClient(create_app(folder), headers={"Authorization": f"Bearer {secret}"}) as client:
        document = client.get("/api/plan/waterfall", params=QUESTION).json()
        page = client.get("/plan", params=QUESTION)
    assert page.status_code == 200, page.text
    (warning,) = document["warnings"]
    assert warning.startswith("2026-06 to 2026-10 are already past on 2026-11-15 but hold 100% of the lead")
    shown = re.search(r'<ul id="plan-warnings"[^>]*>(.*?)</ul>', page.text, re.DOTALL)
    assert shown is not None, page.text
    assert [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", shown.group(1))] == [warning]
