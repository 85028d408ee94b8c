"""The machinery of the one-document tests (test_one_document*.py): a kind of question asked through the command
line (a real process) and the REST API (in-process) on one demo workspace, as of one fixed moment.

A domain's test module lists its cases, `Same` (one question each way) and `Refused` (one bad question each way),
and calls `same_document` and `same_refusal`; test_one_document.py checks that the cases of all the modules cover
every kind in `tandem.questions.KINDS`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

#: A fixed moment three days ago at noon: both front ends see the same data at the same ages.
AS_OF_DAY = datetime.now(UTC).date() - timedelta(days=3)
AS_OF = f"{AS_OF_DAY.isoformat()}T12:00:00"
QUARTER = f"{AS_OF_DAY.year}-Q{(AS_OF_DAY.month - 1) // 3 + 1}"
#: The password of every user of the server tests' demo workspace (conftest.USERS).
PASSWORD = "a-password-for-tests"


@dataclass(frozen=True)
class Same:
    """One question asked both ways: the command line's arguments, the API's path and parameters."""

    kind: str
    args: list[str]
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    #: Who asks through the API (a token of theirs) and, for commands that sign in, on the command line.
    user: str = "val"


@dataclass(frozen=True)
class Refused:
    """One bad question asked both ways: the flag the command line names, the parameter the API names."""

    args: list[str]
    flag: str
    path: str
    params: dict[str, Any]
    parameter: str
    user: str = "val"


def tandem(workspace: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``tandem ARGS -w WORKSPACE`` as a real process."""
    environment = {k: v for k, v in os.environ.items() if k not in ("TANDEM_WORKSPACE", "TANDEM_TOKEN")}
    return subprocess.run(
        [sys.executable, "-m", "tandem.cli", *args, "-w", str(workspace)],
        capture_output=True,
        text=True,
        env=environment,
        input=stdin,
        timeout=600,
        check=False,
    )


def copy_demo(demo_template: Path, folder: Path) -> Path:
    """A private copy of the server tests' demo workspace."""
    target = folder / "demo"
    shutil.copytree(demo_template, target, ignore=shutil.ignore_patterns("demo-data"))
    return target


def printed(company: Path, cases: list[Same]) -> list[Any]:
    """Each case's ``--format json`` document as the command line prints it (before any app opens the workspace)."""
    documents = []
    for case in cases:
        done = tandem(company, *case.args, "--format", "json")
        assert done.returncode == 0, (case.args, done.stderr)
        documents.append(json.loads(done.stdout))
    return documents


def refused(company: Path, cases: list[Refused]) -> list[subprocess.CompletedProcess[str]]:
    return [tandem(company, *case.args, "--format", "json") for case in cases]


def api_client(app: Any, username: str) -> TestClient:
    """An API client with a fresh token of `username` (entered; the caller exits it)."""
    _, secret = app.state.tandem.workspace.accounts.create_token("test", username, "tests")
    client = TestClient(app, follow_redirects=False, headers={"Authorization": f"Bearer {secret}"})
    client.__enter__()
    return client


def same_document(client: TestClient, case: Same, document: Any) -> None:
    """The API answers the case's question with the document the command line printed."""
    answer = client.get(case.path, params=case.params)
    assert answer.status_code == 200, answer.text
    api, cli = rounded(answer.json()), rounded(document)
    assert api == cli, first_difference(api, cli)


def rounded(document: Any, digits: int = 12) -> Any:
    """The document with every float to `digits` significant digits: two processes may add a column's values in
    another order on a multi-threaded DuckDB (a mean's last bit differs), and that is the same answer."""
    if isinstance(document, float):
        return float(f"{document:.{digits}g}")
    if isinstance(document, dict):
        return {key: rounded(value, digits) for key, value in document.items()}
    if isinstance(document, list):
        return [rounded(value, digits) for value in document]
    return document


def first_difference(api: Any, cli: Any, where: str = "") -> str:
    """Where two documents first differ, for a readable failure."""
    if isinstance(api, dict) and isinstance(cli, dict):
        for key in sorted(set(api) | set(cli)):
            if api.get(key) != cli.get(key):
                return first_difference(api.get(key), cli.get(key), f"{where}.{key}")
    if isinstance(api, list) and isinstance(cli, list):
        if len(api) != len(cli):
            return f"{where}: {len(api)} items from the API, {len(cli)} from the command line"
        for i, (a, c) in enumerate(zip(api, cli, strict=True)):
            if a != c:
                return first_difference(a, c, f"{where}[{i}]")
    return f"{where}: {api!r} from the API, {cli!r} from the command line"


def same_refusal(client: TestClient, case: Refused, done: subprocess.CompletedProcess[str]) -> None:
    """Both refuse the case's question: one line naming the flag and exit code 2; a 422 naming the parameter."""
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert case.flag in lines[0], lines[0]
    answer = client.get(case.path, params=case.params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == case.parameter
    assert answer.json()["detail"].startswith(f"{case.parameter}: ")
