"""`tandem sla` as people run it (real processes): the report, a rep's queue, accept and reject."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import tandem
from tandem.questions import SlaQuestion, ask

from ..test_cli import TANDEM
from .company import PASSWORD, agree, people, write

HANDED = (datetime.now(UTC).replace(tzinfo=None) - timedelta(days=3)).replace(
    hour=14, minute=0, second=0, microsecond=0
)


def sla(ws: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TANDEM, "sla", *args, "-w", str(ws)], capture_output=True, text=True, input=stdin, timeout=120, check=False
    )


def company(tmp_path: Path) -> Path:
    folder = tmp_path / "ws"
    with tandem.init_workspace(folder) as ws:
        ws.definitions.guarded = False
        agree(ws, people(ws))
        leads = f"lead_id,created_at,owner,company\nL1,{HANDED.date()},ana,Acme\nL2,{HANDED.date()},ana,Beta\n"
        ws.import_files("leads", [write(tmp_path / "l.csv", leads)])
        rows = "".join(f"{lead},{HANDED:%Y-%m-%d %H:%M},assigned,ana\n" for lead in ("L1", "L2"))
        ws.import_files("handoffs", [write(tmp_path / "h.csv", "lead_id,occurred_at,event,owner\n" + rows)])
    return folder


def test_the_report_prints_the_question_s_document(tmp_path: Path) -> None:
    folder = company(tmp_path)
    done = sla(folder, "report", "--by", "team", "--format", "json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    with tandem.open_workspace(folder) as ws:
        expected = ask(ws, SlaQuestion.parse(by="team", as_of=printed["as_of"]))
    assert printed["rows"] == expected["rows"]
    assert printed["rows"][0]["team"] == "amer"
    assert printed["rows"][0]["handoffs"] == 2
    table = sla(folder, "report")
    assert table.returncode == 0, table.stderr
    assert "Service levels as of" in table.stdout
    assert "ana" in table.stdout


def test_a_rep_works_their_queue_from_the_command_line(tmp_path: Path) -> None:
    folder = company(tmp_path)
    queue = sla(folder, "queue", "ana")
    assert queue.returncode == 0, queue.stderr
    assert "ana: 2 lead(s) waiting for a decision" in queue.stdout
    assert "Reasons a rejection takes: not_a_fit, no_budget." in queue.stdout

    refused = sla(folder, "reject", "L1", "--reason", "too_small", "--as", "ana", "--password-stdin", stdin=PASSWORD)
    assert refused.returncode == 2  # a value refused for one of the command's options: a usage error, naming it
    assert refused.stderr.strip().splitlines() == [
        "error: --reason: 'too_small' is not a reason of the contract; use one of not_a_fit, no_budget"
    ]
    done = sla(
        folder,
        "reject",
        "L1",
        "--reason",
        "not_a_fit",
        "--note",
        "a student",
        "--as",
        "ana",
        "--password-stdin",
        stdin=PASSWORD,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Lead L1 rejected (not_a_fit) by ana; import ")
    accepted = sla(folder, "accept", "L2", "--as", "ana", "--password-stdin", "--format", "json", stdin=PASSWORD)
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["decision"] == "accepted"
    assert "ana: 0 lead(s) waiting" in sla(folder, "queue", "ana").stdout


def test_without_a_contract_the_report_says_what_to_do(tmp_path: Path) -> None:
    tandem.init_workspace(tmp_path / "ws").close()
    done = sla(tmp_path / "ws", "report")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: definitions version 1 has no service levels; propose a `service_levels:` section (docs/sla.md, "
        "'The contract') and have both leaders approve it"
    )
