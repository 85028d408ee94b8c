"""`tandem sla` and the SLA section of `tandem forecast warnings` on a small company worked by hand: each word
means one thing, both durations of a clock read alike, a rep is found by user name, the rejections over the
ceiling are listed for every breakdown, and slow follow-up is turned into money by hand.

The company (accept within 2 business hours, first touch within 16; the team works 09:00-12:00 and 13:00-17:00 UTC
on weekdays), all on one Monday, seen at 16:30 UTC:

====  ============  ===========  ======================  ==================  ===============================
lead  owner         handed over  accepted                first touch         at 16:30
====  ============  ===========  ======================  ==================  ===============================
A     ana           09:00        -                       -                   accept: 6 h 30 min of 2 h: breach
B     Ben Brown     14:45        -                       -                   accept: 1 h 45 min of 2 h: at risk
C     Ben Brown     16:00        -                       -                   accept: 30 min
D     ana           10:00        10:30                   -                   first touch: 5 h 30 min of 16 h
E     ana           09:00        09:30                   09:20               done
F     ana           09:00        09:45                   11:00 (2 h on)      done
====  ============  ===========  ======================  ==================  ===============================

So: 6 handoffs, 3 accepted, 0 rejected, 3 undecided (A, B, C); the clocks judged are the 3 accepts stopped, A's
accept run out and the 2 first touches done (6), one of them a breach; 7 clocks still open (the accepts of A, B and
C, the first touches of A, B, C and D), one of them at risk (B's accept: 1 h 45 min is 87.5 % of 2 h).
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import tandem
from tandem.commands.sla import hours_minutes, sla_app
from tandem.commands.warnings import warnings as warnings_command
from tandem.errors import ConfigError
from tandem.forecast.handoff_signals import handoff_summary
from tandem.handoffs.service import measure
from tandem.handoffs.speed import compare, evidence
from tandem.periods import current_quarter
from tandem.plan.model import FunnelModel, Lag, Rate
from tandem.questions import SlaSummaryQuestion, ask
from tandem.questions.sla import _evidence_text, _lost_revenue

from ..test_cli import TANDEM
from .company import CONTRACT, agree, people, write

TODAY = datetime.now(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
MONDAY = TODAY + timedelta(days=14 - TODAY.weekday())  # Monday of the week after next: after the contract's day
AS_OF = MONDAY + timedelta(hours=16, minutes=30)
QUICK = (
    CONTRACT.replace("America/New_York", "UTC").replace("      holidays: US\n", "").replace("accept: 8h", "accept: 2h")
)
# lead -> (owner, handed over, accepted, first touch), as hours and minutes of the Monday
LEADS: dict[str, tuple[str, str, str | None, str | None]] = {
    "A": ("ana", "09:00", None, None),
    "B": ("Ben Brown", "14:45", None, None),
    "C": ("Ben Brown", "16:00", None, None),
    "D": ("ana", "10:00", "10:30", None),
    "E": ("ana", "09:00", "09:30", "09:20"),
    "F": ("ana", "09:00", "09:45", "11:00"),
}


def monday(hhmm: str) -> str:
    hours, minutes = hhmm.split(":")
    return f"{MONDAY + timedelta(hours=int(hours), minutes=int(minutes)):%Y-%m-%d %H:%M}"


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("sla-words")
    folder = tmp / "ws"
    with tandem.init_workspace(folder) as ws:
        ws.definitions.guarded = False
        agree(ws, people(ws), QUICK)
        created = TODAY - timedelta(days=7)  # before today: a goal is set from the leads of the past year
        leads = "".join(f"{lead},{created:%Y-%m-%d},{owner}\n" for lead, (owner, *_) in LEADS.items())
        ws.import_files("leads", [write(tmp / "l.csv", "lead_id,created_at,owner\n" + leads)])
        rows = []
        for lead, (owner, handed, accepted, _) in LEADS.items():
            rows.append(f"{lead},{monday(handed)},assigned,{owner}\n")
            if accepted is not None:
                rows.append(f"{lead},{monday(accepted)},accepted,{owner}\n")
        ws.import_files("handoffs", [write(tmp / "h.csv", "lead_id,occurred_at,event,owner\n" + "".join(rows))])
        touches = "".join(
            f"T{lead},{lead},{monday(touched)},call\n" for lead, (*_, touched) in LEADS.items() if touched is not None
        )
        ws.import_files("activities", [write(tmp / "a.csv", "activity_id,lead_id,occurred_at,kind\n" + touches)])
    return folder


def run(app: typer.Typer, *args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def sla(folder: Path, *args: str) -> Any:
    return run(sla_app, *args, "-w", str(folder), "--as-of", AS_OF.isoformat())


def test_the_report_says_undecided_handoffs_and_open_clocks_with_their_own_words(company: Path) -> None:
    document = json.loads(sla(company, "report", "--format", "json").stdout)
    totals = document["totals"]
    assert {k: totals[k] for k in ("handoffs", "accepted", "rejected", "undecided", "open_clocks", "at_risk")} == {
        "handoffs": 6,
        "accepted": 3,
        "rejected": 0,
        "undecided": 3,
        "open_clocks": 7,
        "at_risk": 1,
    }
    assert (totals["breaches"], totals["judged_clocks"]) == (1, 6)
    shown = sla(company, "report").stdout
    header = next(line for line in shown.splitlines() if "handoffs" in line and "accepted" in line)
    assert "undecided" in header
    assert " open " not in header  # "open" is the clocks' word only
    assert (
        "All: 6 handoffs, 3 accepted, 0 rejected (0.0% of decisions), 3 undecided; 1 breaches (16.7% of clocks "
        "judged), 7 clocks open, 1 of them at risk."
    ) in shown


def test_elapsed_and_left_read_alike_in_hours_and_minutes(company: Path) -> None:
    assert [hours_minutes(s) for s in (2760, 82800 + 300, 6.5 * 3600, -4.5 * 3600, 59, None)] == [
        "0 h 46 min",
        "23 h 05 min",
        "6 h 30 min",
        "4 h 30 min over",
        "0 h 00 min",
        "-",
    ]
    shown = sla(company, "report").stdout
    table = shown[shown.index("most urgent open clocks") :].splitlines()
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in table if line.startswith("│")]
    assert [(c[0], c[1], c[5], c[6]) for c in cells] == [
        ("B", "accept", "1 h 45 min", "0 h 15 min"),
        ("C", "accept", "0 h 30 min", "1 h 30 min"),
        ("A", "first touch", "6 h 30 min", "9 h 30 min"),
        ("D", "first touch", "5 h 30 min", "10 h 30 min"),
        ("B", "first touch", "1 h 45 min", "14 h 15 min"),
        ("C", "first touch", "0 h 30 min", "15 h 30 min"),
        ("A", "accept", "6 h 30 min", "4 h 30 min over"),
    ]


def test_a_rep_is_found_by_user_name_and_an_unknown_one_is_refused(company: Path) -> None:
    by_user = sla(company, "queue", "ben")
    assert by_user.exit_code == 0, by_user.output
    assert "ben (Ben Brown): 2 lead(s) waiting for a decision" in by_user.stdout
    by_name = sla(company, "queue", "Ben Brown")
    assert "Ben Brown (ben): 2 lead(s) waiting for a decision" in by_name.stdout
    assert json.loads(sla(company, "queue", "ben", "--format", "json").stdout)["held_as"] == ["Ben Brown", "ben"]
    assert "ana: 1 lead(s) waiting for a decision" in sla(company, "queue", "ana").stdout
    refused = subprocess.run(
        [*TANDEM, "sla", "queue", "zed", "-w", str(company), "--as-of", AS_OF.isoformat()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "error: no rep 'zed': no lead was handed to that name and no user has it; give a user name or a lead owner "
        "as written: Ben Brown, ana"
    ]


def test_the_warnings_carry_the_handoff_section(company: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hand = FunnelModel.from_steps(
        {
            ("lead", "mql"): Rate(0.5),
            ("mql", "sql"): Rate(0.5),
            ("sql", "opportunity"): Rate(0.5),
            ("opportunity", "won"): Rate(0.5),
        },
        {},
        8000.0,
    )
    monkeypatch.setattr("tandem.plan.history.model_from_history", lambda *a, **k: hand)
    with tandem.open_workspace(company) as ws:
        ws.accounts.create_user("admin", "eve", "exec", password="eve's long password")
        ws.goals.set(ws.accounts.authenticate("eve", "eve's long password"), _quarter(), "400k")
    app = typer.Typer()
    app.command("warnings")(warnings_command)
    app.command("other")(lambda: None)
    options = ["warnings", "-w", str(company), "--as-of", AS_OF.isoformat()]
    document = json.loads(run(app, *options, "--format", "json").stdout)
    levels = document["service_levels"]
    assert {k: levels[k] for k in ("handoffs", "breaches", "judged_clocks", "at_risk", "open_past_target")} == {
        "handoffs": 6,
        "breaches": 1,
        "judged_clocks": 6,
        "at_risk": 1,
        "open_past_target": 1,
    }
    assert levels["most_breaches"] == [{"rep": "ana", "breaches": 1}]
    shown = run(app, *options).stdout
    assert (
        f"Handoff: 6 leads handed to sales in {_quarter()} so far; 1 service-level breaches (17% of the clocks "
        "judged); 1 clocks at risk now. Most breaches: ana 1. See `tandem sla report`."
    ) in shown


def _quarter() -> str:
    return current_quarter(AS_OF.date()).label


def test_slow_follow_up_is_turned_into_money_by_hand(company: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Slow this quarter: A and B, waiting untouched and undecided over an hour; F, touched 2 h after its handoff.
    # Not slow: C (handed 30 min ago), D (decided), E (touched after 20 min).
    hand = FunnelModel.from_steps(
        {
            ("lead", "mql"): Rate(0.5),
            ("mql", "sql"): Rate(0.5),
            ("sql", "opportunity"): Rate(0.5),
            ("opportunity", "won"): Rate(0.5),
        },
        {("sql", "opportunity"): Lag.fixed(30)},
        8000.0,
    )
    monkeypatch.setattr("tandem.plan.calculator.plan_model", lambda *a, **k: hand)
    found = {"within 1 h": {"sql_rate": 0.75}, "after 1 h": {"sql_rate": 0.25}}
    with tandem.open_workspace(company) as ws, measure(ws.warehouse, ws.counting(AS_OF), AS_OF) as measured:
        lost = _lost_revenue(ws, measured, found, list(hand.stages), "sql")
    assert lost is not None
    # 3 slow leads x (75 % - 25 %) = 1.5 fewer SQLs; x 25 % from sql to won (50 % x 50 %) x $8,000 = $3,000.
    assert {
        k: lost[k] for k in ("slow_leads", "rate_gap", "lost_next_stage", "rate_to_won", "deal_size", "amount")
    } == {
        "slow_leads": 3,
        "rate_gap": 0.5,
        "lost_next_stage": 1.5,
        "rate_to_won": 0.25,
        "deal_size": 8000.0,
        "amount": 3000.0,
    }
    assert lost["period"] == _quarter()


def test_the_evidence_says_both_comparisons_beside_their_benchmarks() -> None:
    # Within an hour 50 of 100 matured leads reach sql; after an hour 10 of 100; after a day 1 of 50.
    # After an hour: 0.5 / 0.1 = 5.0, se = sqrt(1/50 - 1/100 + 1/10 - 1/100) = sqrt(0.1), 5 exp(-/+ 1.96 se) =
    # 2.7 to 9.3. After a day: 0.5 / 0.02 = 25.0, se = sqrt(1/50 - 1/100 + 1 - 1/50) = sqrt(0.99): 3.6 to 175.7.
    after_hour, after_day = compare((100, 50), (100, 10)), compare((100, 50), (50, 1))
    assert _evidence_text(after_hour, after_day, evidence(after_hour), "sql", 30) == (
        "Leads touched within an hour reached sql within 30 days 5.0 times as often as leads touched later (95 % "
        "interval 2.7 to 9.3; 100 and 100 leads handed over at least 30 days ago): strong evidence. The published "
        "benchmark is about 7 times (HBR, 2011). Against leads touched after 24 hours: 25.0 times as often (95 % "
        "interval 3.6 to 175.7; 50 leads touched after a day); the published benchmark is about 60 times."
    )


@pytest.fixture(scope="module")
def rejecting(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 leads from one channel and campaign, handed over on the Monday: 7 rejected (35 %), 13 accepted."""
    tmp = tmp_path_factory.mktemp("sla-ceiling")
    folder = tmp / "ws"
    with tandem.init_workspace(folder) as ws:
        ws.definitions.guarded = False
        agree(ws, people(ws), QUICK)
        created = TODAY - timedelta(days=7)
        leads = "".join(f"R{i},{created:%Y-%m-%d},ana,paid_social,spring\n" for i in range(20))
        ws.import_files("leads", [write(tmp / "l.csv", "lead_id,created_at,owner,channel,campaign_id\n" + leads)])
        rows = [f"R{i},{monday('09:00')},assigned,ana,\n" for i in range(20)]
        rows += [f"R{i},{monday('09:30')},rejected,ana,not_a_fit\n" for i in range(7)]
        rows += [f"R{i},{monday('09:30')},accepted,ana,\n" for i in range(7, 20)]
        ws.import_files("handoffs", [write(tmp / "h.csv", "lead_id,occurred_at,event,owner,reason\n" + "".join(rows))])
    return folder


def test_every_breakdown_over_the_rejection_ceiling_is_listed(rejecting: Path) -> None:
    shown = sla(rejecting, "report").stdout.splitlines()
    assert [line for line in shown if "rejection ceiling" in line] == [
        "Channels over the 30 % rejection ceiling: paid_social 35.0% of 20.",
        "Campaigns over the 30 % rejection ceiling: spring 35.0% of 20.",
        "Definitions versions over the 30 % rejection ceiling: v2 35.0% of 20.",
    ]


def test_service_levels_that_cannot_be_read_are_said_not_dropped(
    company: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise ConfigError("the handoffs table cannot be read: column occurred_at is text")

    monkeypatch.setattr("tandem.handoffs.service.measure", broken)
    period = current_quarter(AS_OF.date())
    with tandem.open_workspace(company) as ws:
        assert handoff_summary(ws, period, AS_OF) == {
            "period": period.label,
            "error": "the service levels could not be read: the handoffs table cannot be read: column occurred_at "
            "is text",
        }
        assert ask(ws, SlaSummaryQuestion.parse(as_of=AS_OF))["unavailable"] == (
            "the service levels could not be read: the handoffs table cannot be read: column occurred_at is text"
        )
