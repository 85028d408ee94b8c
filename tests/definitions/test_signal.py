"""The weekly loosening signal: hand-worked weeks, p-values recomputed by hand, every backend, and no false alarms.

The hand-worked company: 18 complete weeks before Monday 2026-06-01 (the as-of moment), each with a number of MQLs
and how many of them reached SQL two days later. With the default 14-day window the two newest weeks are not
mature, so the acceptance test compares weeks 12-15 with 0-11 and the volume test weeks 14-17 with 2-13.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from fractions import Fraction
from math import comb, exp, lgamma, log, sqrt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from scipy.stats import t as student_t

from tandem.definitions.model import default_definitions
from tandem.definitions.signal import (
    SignalParams,
    SignalWeek,
    dispersion,
    evaluate,
    handoff_stages,
    loosening_signal,
)
from tandem.errors import ConfigError

from ..backends import DUCKDB, Backend
from ..test_cli import TANDEM

AS_OF = datetime(2026, 6, 1)  # a Monday
FIRST = AS_OF - timedelta(weeks=18)  # Monday 2026-01-26, the first week of history
MATURE = 16  # weeks 0..15 have had their 14 days


def company(weeks: Sequence[tuple[int, int]]) -> dict[str, pa.Table]:
    """Leads, MQL events and SQL events for (MQLs, accepted) per week, oldest first, starting at `FIRST`.

    Lead j of a week is created on its Monday at 00:00 + j minutes, becomes an MQL a day later and, for the first
    `accepted` ones, an SQL two days after that. The very first lead is created at Monday 00:00, so the first week
    is complete history.
    """
    lead_ids: list[str] = []
    created: list[datetime] = []
    events: list[tuple[str, str, datetime]] = []
    for index, (mqls, accepted) in enumerate(weeks):
        start = FIRST + timedelta(weeks=index)
        for j in range(mqls):
            lead = f"w{index:02d}-{j:03d}"
            lead_ids.append(lead)
            created.append(start + timedelta(minutes=j))
            mql_at = start + timedelta(days=1, minutes=j)
            events.append((lead, "mql", mql_at))
            if j < accepted:
                events.append((lead, "sql", mql_at + timedelta(days=2)))
    return {
        "leads": pa.table(
            {"lead_id": pa.array(lead_ids), "created_at": pa.array(created, pa.timestamp("us"))},
        ),
        "stage_events": pa.table(
            {
                "lead_id": pa.array([e[0] for e in events]),
                "stage": pa.array([e[1] for e in events]),
                "occurred_at": pa.array([e[2] for e in events], pa.timestamp("us")),
            }
        ),
    }


#: 20 MQLs a week, 8 accepted (40 %); from week 12 on, 30 MQLs and only 6 accepted (20 %).
LOOSENED = [(20, 8)] * 12 + [(30, 6)] * 6
#: The same rise in volume, but sales accepts 40 % of the new MQLs too.
GROWTH = [(20, 8)] * 12 + [(30, 12)] * 6
#: Nothing changes.
STEADY = [(20, 8)] * 18
#: Alarming percentages on tiny numbers: 2 MQLs a week (1 accepted), then 6 a week and none accepted.
SMALL = [(2, 1)] * 12 + [(6, 0)] * 6


def binomial_upper_tail(k: int, n: int, p: Fraction) -> float:
    """P(X >= k) for X ~ Binomial(n, p): summed exactly, or in logarithms for large n."""
    if n < 1000:
        return float(sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1)))
    lp, lq = log(p), log(1 - p)
    return sum(exp(lgamma(n + 1) - lgamma(i + 1) - lgamma(n - i + 1) + i * lp + (n - i) * lq) for i in range(k, n + 1))


def fisher_lower_tail(a: int, b: int, c: int, d: int) -> float:
    """One-sided Fisher p for the table [[a, b], [c, d]]: P(top-left <= a) with the margins fixed (hypergeometric)."""
    row, col, total = a + b, a + c, a + b + c + d
    return float(sum(Fraction(comb(col, x) * comb(total - col, row - x), comb(total, row)) for x in range(0, a + 1)))


def series(weeks: Sequence[tuple[int, int]], mature: int = MATURE) -> list[SignalWeek]:
    return [
        SignalWeek(week=(FIRST + timedelta(weeks=i)).date(), mqls=m, accepted=a, mature=i < mature)
        for i, (m, a) in enumerate(weeks)
    ]


# --- the statistics on hand-made series ---------------------------------------------------------------------


def test_loosened_weeks_flag_with_p_values_computed_by_hand() -> None:
    status, sentence, reasons, volume, acceptance, spans = evaluate(series(LOOSENED))
    assert status == "flag"
    assert reasons == []
    # Volume: weeks 14-17 (4 x 30 = 120) against weeks 2-13 (10 x 20 + 2 x 30 = 260).
    assert (volume.recent_mqls, volume.baseline_mqls, volume.recent_weeks, volume.baseline_weeks) == (120, 260, 4, 12)
    assert volume.change == pytest.approx(30 / (260 / 12) - 1)  # +38 %
    assert volume.dispersion == 1.0  # the baseline varies less than a Poisson count: no widening
    assert volume.p_value == pytest.approx(binomial_upper_tail(120, 380, Fraction(1, 4)), rel=1e-9)
    # Acceptance: mature weeks 12-15 (120 MQLs, 24 accepted) against weeks 0-11 (240 MQLs, 96 accepted).
    assert (acceptance.recent_mqls, acceptance.recent_accepted) == (120, 24)
    assert (acceptance.baseline_mqls, acceptance.baseline_accepted) == (240, 96)
    assert (acceptance.recent_rate, acceptance.baseline_rate) == (0.2, 0.4)
    assert acceptance.change == pytest.approx(-0.5)
    assert acceptance.expected_accepted == pytest.approx(48)
    assert acceptance.p_value == pytest.approx(fisher_lower_tail(24, 96, 96, 144), rel=1e-9)
    assert volume.p_value == pytest.approx(0.00227, abs=1e-5)
    assert acceptance.p_value < 0.001
    assert sentence == (
        "MQLs rose 38 % (p = 0.002) while MQL→SQL acceptance fell from 40 % to 20 % (p < 0.001): "
        "check whether the MQL definition was loosened."
    )
    week = FIRST.date()
    assert spans["acceptance"][week] == "baseline"
    assert week not in spans["volume"]
    assert spans["volume"][week + timedelta(weeks=17)] == "recent"
    assert week + timedelta(weeks=17) not in spans["acceptance"]  # not mature


def test_more_mqls_accepted_as_before_is_ok() -> None:
    status, sentence, _, volume, acceptance, _ = evaluate(series(GROWTH))
    assert status == "ok"
    assert volume.significant
    assert not acceptance.significant
    assert (acceptance.recent_rate, acceptance.baseline_rate) == (0.4, 0.4)
    assert acceptance.p_value == pytest.approx(fisher_lower_tail(48, 72, 96, 144), rel=1e-9)
    assert sentence.startswith("MQLs rose 38 % (p = 0.002) but MQL→SQL acceptance did not fall significantly")


def test_nothing_changing_is_ok() -> None:
    status, sentence, _, volume, acceptance, _ = evaluate(series(STEADY))
    assert status == "ok"
    assert volume.change == 0
    assert acceptance.change == 0
    assert sentence == (
        "MQLs rose 0 %, within chance (p = 0.521); MQL→SQL acceptance went from 40 % to 40 %: "
        "no sign of a looser MQL definition."
    )
    assert volume.p_value == pytest.approx(binomial_upper_tail(80, 320, Fraction(1, 4)), rel=1e-9)


def test_alarming_percentages_on_small_numbers_are_not_enough_data() -> None:
    """MQLs more than doubled and acceptance fell from 50 % to 0 %; the exact tests even call it significant, but
    24 MQLs a span is below the minimum of 30, so the signal does not cry wolf."""
    status, sentence, reasons, volume, acceptance, _ = evaluate(series(SMALL))
    assert status == "not enough data"
    assert volume.change == pytest.approx(6 / (32 / 12) - 1)  # +125 %: 6 a week against 32 in 12 weeks
    assert (acceptance.recent_rate, acceptance.baseline_rate) == (0.0, 0.5)
    assert acceptance.p_value is not None
    assert acceptance.p_value < 0.05
    assert not volume.enough
    assert not acceptance.enough
    assert reasons == [
        "24 MQLs in the last 4 weeks and 32 in the 12 before; at least 30 are needed in each",
        "24 MQLs in the 4 newest weeks whose acceptance window has passed and 24 in the 12 before; at least 30 "
        "are needed in each",
    ]
    assert sentence.startswith("Not enough data to judge the MQL definition: 24 MQLs in the last 4 weeks")


def test_too_few_expected_acceptances_and_too_short_a_history_are_not_enough_data() -> None:
    # 1 MQL in 40 accepted (2.5 %): 4 recent weeks of 60 MQLs expect 6 acceptances, enough ...
    _, _, _, _, acceptance, _ = evaluate(series([(40, 1)] * 12 + [(60, 0)] * 6))
    assert acceptance.expected_accepted == pytest.approx(6.0)
    assert acceptance.enough
    rarer = [(40, 1)] * 12 + [(30, 0)] * 6
    status, _, reasons, _, acceptance, _ = evaluate(series(rarer))
    assert acceptance.expected_accepted == pytest.approx(3.0)  # ... 3 expected: not enough
    assert status == "not enough data"
    assert reasons == ["only 3.0 acceptances expected at the baseline rate; at least 5 are needed"]

    status, _, reasons, volume, _, _ = evaluate(series(LOOSENED[-6:], mature=4))
    assert status == "not enough data"
    assert (volume.recent_weeks, volume.baseline_weeks) == (4, 2)
    assert reasons[0] == "6 complete weeks of history; the volume comparison needs at least 8"


def test_a_shorter_baseline_of_at_least_the_recent_span_is_compared_per_week() -> None:
    weeks = [(20, 8)] * 8 + [(30, 6)] * 6  # 14 weeks: volume baseline = weeks 0-9, acceptance baseline 0-7
    status, _, _, volume, acceptance, _ = evaluate(series(weeks, mature=12))
    assert (volume.baseline_weeks, acceptance.baseline_weeks) == (10, 8)
    assert volume.p_value == pytest.approx(binomial_upper_tail(120, 120 + 220, Fraction(4, 14)), rel=1e-9)
    assert status == "flag"


def test_dispersion_by_hand_and_its_effect() -> None:
    assert dispersion([10, 20, 30]) == pytest.approx(((10**2 + 0 + 10**2) / 20) / 2)  # 5
    assert dispersion([20, 20, 20]) == 1.0  # never below 1
    assert dispersion([5, 15], [20, 20]) == pytest.approx(((25 / 5) + (25 / 5)) / 1)  # p = 0.5: 10
    assert dispersion([3], [10]) == 1.0
    # A baseline swinging between 5 and 35 MQLs a week: a recent 26 a week (+30 %) is within its own variation.
    swinging = [(5, 2), (35, 14)] * 7 + [(26, 10)] * 4
    status, _, _, volume, _, _ = evaluate(series(swinging))
    assert (volume.recent_mqls, volume.baseline_mqls) == (104, 240)
    assert volume.dispersion == pytest.approx((12 * 15**2 / 20) / 11)
    plain = binomial_upper_tail(104, 344, Fraction(1, 4))
    # The quasi-Poisson test by hand: (104 - 344 / 4) / sqrt(phi x 344 x 1/4 x 3/4), against t with 11 df.
    z = (104 - 344 / 4) / sqrt(volume.dispersion * 344 * 0.25 * 0.75)
    assert volume.p_value == pytest.approx(student_t.sf(z, 11), rel=1e-12)
    assert plain < 0.05 < volume.p_value  # significant as Poisson counts, not against the weeks' real spread
    assert status == "ok"


def test_the_practical_minimum_effect() -> None:
    """A 5 % rise on large numbers is significant but too small to matter: no flag."""
    weeks = [(1000, 400)] * 12 + [(1050, 300)] * 6
    status, sentence, _, volume, acceptance, _ = evaluate(series(weeks))
    assert volume.p_value == pytest.approx(binomial_upper_tail(4200, 16300, Fraction(1, 4)), rel=1e-6)
    assert volume.p_value < 0.05
    assert volume.change == pytest.approx(1050 / (12100 / 12) - 1)
    assert acceptance.significant
    assert status == "ok"
    assert "less than the 10 % rise that counts" in sentence


def test_params_are_checked() -> None:
    with pytest.raises(ConfigError, match="at least one week"):
        SignalParams(recent_weeks=0)
    with pytest.raises(ConfigError, match="alpha"):
        SignalParams(alpha=1.5)


def test_the_handoff_is_the_last_marketing_stage() -> None:
    definitions = default_definitions()
    assert handoff_stages(definitions) == ("mql", "sql")
    assert handoff_stages(definitions, "sql") == ("sql", "opportunity")
    with pytest.raises(ConfigError, match="last stage"):
        handoff_stages(definitions, "won")
    with pytest.raises(ConfigError, match="unknown stage"):
        handoff_stages(definitions, "nope")


# --- false alarms, and power -----------------------------------------------------------------------------------


def simulate(
    rng: np.random.Generator, rate: float, accept: float, *, rise: float = 1.0, fall: float = 1.0, nb: bool = False
) -> list[SignalWeek]:
    """18 weeks of MQLs (Poisson, or negative binomial with `nb`) and binomial acceptances; the last six weeks
    have `rise` times the volume and `fall` times the acceptance rate. With `nb` the weeks vary more than chance
    says: a negative binomial count (variance `mean + mean^2 / 10`, five times a Poisson count's at 40 a week) and
    a weekly acceptance rate drawn from a beta distribution around `accept` (about twice a binomial's variance)."""
    weeks = []
    for i in range(18):
        mean = rate * (rise if i >= 12 else 1.0)
        mqls = int(rng.negative_binomial(10, 10 / (10 + mean))) if nb else int(rng.poisson(mean))
        rate_of_week = rng.beta(accept * 30, (1 - accept) * 30) if nb else accept
        accepted = int(rng.binomial(mqls, rate_of_week * (fall if i >= 12 else 1.0)))
        weeks.append(SignalWeek((FIRST + timedelta(weeks=i)).date(), mqls, accepted, i < MATURE))
    return weeks


def test_no_change_raises_few_false_alarms() -> None:
    """200 seeded company histories with nothing changing: each test alone rejects at most about alpha of them,
    and the flag (both, with the minimum effects) almost never fires; also with weekly counts far more spread than
    a Poisson count (negative binomial), which the dispersion factor absorbs."""
    rng = np.random.default_rng(20260601)
    for nb in (False, True):
        results = [evaluate(simulate(rng, 40, 0.35, nb=nb)) for _ in range(200)]
        flags = sum(r[0] == "flag" for r in results)
        volume_rejects = sum((r[3].p_value or 1) < 0.05 for r in results)
        acceptance_rejects = sum((r[4].p_value or 1) < 0.05 for r in results)
        assert flags <= 200 * 0.05 / 5, (nb, flags)
        assert volume_rejects <= 200 * 0.05 + 3, (nb, volume_rejects)
        assert acceptance_rejects <= 200 * 0.05 + 3, (nb, acceptance_rejects)
        assert all(r[0] != "not enough data" for r in results)


def test_a_real_loosening_is_flagged_most_of_the_time() -> None:
    rng = np.random.default_rng(7)
    results = [evaluate(simulate(rng, 40, 0.35, rise=1.5, fall=0.6)) for _ in range(200)]
    assert sum(r[0] == "flag" for r in results) >= 0.8 * 200


def test_small_numbers_never_flag() -> None:
    rng = np.random.default_rng(11)
    results = [evaluate(simulate(rng, 2, 0.35, rise=2.0, fall=0.3)) for _ in range(200)]
    assert {r[0] for r in results} == {"not enough data"}


# --- on a workspace, through the funnel engine ---------------------------------------------------------------


def test_the_signal_on_every_backend(backend: Backend, tmp_path: Path) -> None:
    with backend.workspace_holding(tmp_path, company(LOOSENED)) as ws:
        signal = loosening_signal(ws, as_of=AS_OF)
        assert signal.status == "flag"
        assert (signal.mql_stage, signal.next_stage) == ("mql", "sql")
        assert signal.definition_version == 1
        assert signal.params.window_days == 14  # the workspace setting's default
        assert [(w.mqls, w.accepted) for w in signal.weeks] == LOOSENED
        assert [w.mature for w in signal.weeks] == [i < MATURE for i in range(18)]
        assert signal.weeks[0].week == date(2026, 1, 26)
        assert signal.weeks[-1].week == date(2026, 5, 25)
        assert (signal.volume.recent_mqls, signal.volume.baseline_mqls) == (120, 260)
        assert (signal.acceptance.recent_accepted, signal.acceptance.baseline_accepted) == (24, 96)
        document = signal.as_dict()
        json.dumps(document)  # JSON-friendly as it is
        assert document["status"] == "flag"
        assert document["as_of"] == "2026-06-01T00:00:00"
        assert document["weeks"][-1] == {
            "week": "2026-05-25",
            "mqls": 30,
            "accepted": 6,
            "acceptance_rate": None,
            "mature": False,
            "volume_span": "recent",
            "acceptance_span": None,
        }


def test_week_boundaries_and_options_on_a_workspace(tmp_path: Path) -> None:
    with DUCKDB.workspace_holding(tmp_path, company(LOOSENED)) as ws:
        # Wednesday noon: the same complete weeks, the same mature ones.
        wednesday = loosening_signal(ws, as_of=AS_OF + timedelta(days=2, hours=12))
        assert [(w.week, w.mature) for w in wednesday.weeks] == [
            (w.week, w.mature) for w in loosening_signal(ws, as_of=AS_OF).weeks
        ]
        # A second before Monday: the newest week is not complete yet.
        before = loosening_signal(ws, as_of=AS_OF - timedelta(seconds=1))
        assert before.weeks[-1].week == date(2026, 5, 18)
        # A 3-day window: the week of 2026-05-25 is mature by June 4 (its last MQL has had its 3 days).
        short = loosening_signal(ws, as_of=AS_OF + timedelta(days=3), window_days=3)
        assert short.weeks[-1].mature
        assert short.acceptance.recent_last == date(2026, 5, 25)
        # Before any lead: no weeks at all.
        empty = loosening_signal(ws, as_of="2025-06-01")
        assert empty.weeks == []
        assert empty.status == "not enough data"
        with pytest.raises(ConfigError, match="out of the range"):
            loosening_signal(ws, as_of="0001-01-02")


def test_the_history_is_what_the_signal_said_each_monday(tmp_path: Path) -> None:
    """One query serves a dozen readings; each is what the signal says when asked as of that Monday."""
    with DUCKDB.workspace_holding(tmp_path, company(LOOSENED)) as ws:
        signal = loosening_signal(ws, as_of=AS_OF + timedelta(days=2))  # a Wednesday
        mondays = [reading.as_of for reading in signal.history]
        assert mondays[-1] == AS_OF + timedelta(days=2)
        assert mondays[:-1] == [AS_OF - timedelta(weeks=k) for k in range(10, -1, -1)]
        assert signal.history[-1].status == signal.status
        for reading in signal.history[:-1]:
            asked = loosening_signal(ws, as_of=reading.as_of)
            assert reading.status == asked.status, reading.as_of
            assert reading.volume_p_value == asked.volume.p_value
            assert reading.acceptance_p_value == asked.acceptance.p_value
        # The loosening began in week 12 (2026-04-20). As of 2026-03-23 and 03-30 only 6 and 7 weeks had had their
        # 14 days (8 are needed); then "ok", while the volume rises first; the flag from 2026-05-18, when two of the
        # four newest mature weeks (04-06 to 04-27) are loosened ones: acceptance -30 %, p = 0.027.
        assert [r.status for r in signal.history] == [*["not enough data"] * 2, *["ok"] * 6, *["flag"] * 4]
        first_flag = signal.history[8]
        assert first_flag.as_of == datetime(2026, 5, 18)
        assert first_flag.acceptance_change == pytest.approx(-0.3)
        # Weeks 10-13 (100 MQLs, 28 accepted) against weeks 0-9, all the history there was (200, 80).
        assert first_flag.acceptance_p_value == pytest.approx(fisher_lower_tail(28, 72, 80, 120), rel=1e-9)
        assert loosening_signal(ws, as_of=AS_OF, history_weeks=1).history[0].as_of == AS_OF
        with pytest.raises(ConfigError, match="history_weeks"):
            loosening_signal(ws, as_of=AS_OF, history_weeks=0)


def run_signal(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TANDEM, "definitions", "signal", "-w", str(ws), "--as-of", "2026-06-01", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_signal_command(tmp_path: Path) -> None:
    with DUCKDB.workspace_holding(tmp_path, company(LOOSENED)):
        pass
    folder = tmp_path / "ws"
    done = run_signal(folder, "--format", "json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["status"] == "flag"
    assert document["volume"]["recent_mqls"] == 120
    assert len(document["weeks"]) == 18
    assert [r["status"] for r in document["history"]][-4:] == ["ok", "flag", "flag", "flag"]
    assert document["sentence"].startswith("MQLs rose 38 % (p = 0.002) while MQL→SQL acceptance fell")

    table = run_signal(folder)
    assert table.returncode == 0, table.stderr
    assert "check whether the MQL definition was loosened" in table.stdout
    assert "(window open)" in table.stdout
    assert "what the signal said each week" in table.stdout
    assert "2026-05-25" in table.stdout
