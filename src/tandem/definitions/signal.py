"""The weekly loosening signal: MQL volume rising while sales accepts a smaller share of it.

The failure tandem exists to catch: marketing, measured on leads, loosens the MQL definition near a deadline; volume
goes up, sales accepts fewer of the MQLs it gets, and both sides blame the other. The signal watches the handoff,
the last marketing stage (the *MQL stage*) and the stage after it (the first sales stage, *acceptance*), and says
one of three things:

- ``flag``: MQL volume rose significantly **and** the acceptance rate fell significantly, both by at least a
  practical amount;
- ``ok``: there is enough data and the two did not happen together;
- ``not enough data``: too few MQLs (or expected acceptances) to tell a change from chance. Small numbers never
  raise a flag, however alarming their percentages look.

How it is measured (every count comes from the funnel engine, ``Workspace.funnel(period="week")``, so the same
definitions, cumulative semantics and as-of rule apply as everywhere else):

- Weeks are complete ISO weeks (Monday 00:00 UTC to the next Monday) that ended by ``as_of``; a week that began
  before the first lead was created is not history and is left out (a partial first week would look like growth).
- **Volume**: MQLs entering in the *recent* span (default the last 4 complete weeks) against the *baseline* (the 12
  weeks before). One-sided exact test of two Poisson rates: given the total, the recent count is binomial with
  ``p = recent weeks / (recent + baseline weeks)`` under "no change" (``scipy.stats.binomtest``).
- **Acceptance**: of the MQLs of a week, the share that reached the next stage within the conversion window
  (default 14 days: the ``signal_window_days`` setting). Only *mature* weeks count, those whose last MQL has had
  its whole window by ``as_of``: counting younger MQLs as not accepted would make every recent week look worse.
  So the acceptance spans end at the newest mature week (4 mature weeks against the 12 before them), usually two
  weeks earlier than the volume spans. One-sided Fisher exact test on the 2x2 table (recent/baseline x
  accepted/not) (``scipy.stats.fisher_exact``).
- **Not crying wolf**: (1) at least ``min_mqls`` (30) MQLs in each span of each test and at least
  ``min_expected`` (5) acceptances expected in the recent span at the baseline rate, else "not enough data";
  (2) a practical minimum effect: volume up at least 10 %, acceptance down at least 10 % relative; (3) extra-
  Poisson variation: real weekly counts vary more than a Poisson or binomial model says (seasons, campaigns,
  quarter ends). The baseline weeks measure it (Pearson chi-square over its degrees of freedom, the quasi-likelihood
  dispersion factor ``phi``, at least 1). When ``phi`` is above 1 each test becomes its quasi-likelihood version:
  the normal statistic over ``sqrt(phi)``, against Student's t with the baseline weeks less one as degrees of
  freedom (``phi`` is estimated from a dozen weeks, and a plain normal reference would trust it too much). With
  Poisson-like weeks ``phi`` is 1 and the tests are the plain exact ones.
- **Weeks as counted then.** Every week is counted under the definitions in force during it
  (`tandem.definitions.counting`), so approving a looser rule cannot recount the baseline and hide itself.
- **A definition change, judged at once** (`VersionChange`): when a version that changes who reaches the MQL stage
  took effect within the signal's span, the mature weeks before it are counted both ways, as they were counted
  then and under the new version. If the new version counts at least 10 % more MQLs and sales accepted a
  significantly smaller share of them (the same Fisher test, conservative here since the two counts share most of
  their leads), the signal flags the change the week it is approved, without waiting for weeks of new data.
- **No multiple-testing correction between the two tests**: the flag needs both (an intersection-union test), and
  its false-alarm rate is at most the larger of the two tests' levels, so each test at ``alpha`` keeps the flag at
  ``alpha`` or below (Berger, 1982). Holm or Bonferroni would apply if *either* test could flag; here they would
  only cost power. Running the signal every week is a repeated look: read a flag as "look now", and expect an
  occasional one by chance over a year.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from tandem.engine.spec import as_of_or_now, to_timestamp
from tandem.engine.usable import usable
from tandem.errors import ConfigError

if TYPE_CHECKING:
    from tandem.definitions.context import DefinitionsContext
    from tandem.definitions.model import Definitions

__all__ = [
    "DEFAULT_WINDOW_DAYS",
    "AcceptanceTest",
    "LooseningSignal",
    "SignalParams",
    "SignalReading",
    "SignalWeek",
    "Status",
    "VersionChange",
    "VolumeTest",
    "WeeklyCounts",
    "acceptance_p_value",
    "dispersion",
    "evaluate",
    "handoff_stages",
    "loosening_signal",
    "version_change",
    "volume_p_value",
    "weekly_counts",
]

Status = Literal["flag", "ok", "not enough data"]
#: Days an MQL has to be accepted, when the workspace setting `signal_window_days` is not available.
DEFAULT_WINDOW_DAYS = 14
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class SignalParams:
    """The signal's knobs; the defaults are the documented ones (docs/definitions.md)."""

    recent_weeks: int = 4
    baseline_weeks: int = 12
    window_days: int = DEFAULT_WINDOW_DAYS
    alpha: float = 0.05
    min_mqls: int = 30
    min_expected: float = 5.0
    min_volume_rise: float = 0.10
    min_rate_drop: float = 0.10

    def __post_init__(self) -> None:
        if self.recent_weeks < 1 or self.baseline_weeks < 1:
            raise ConfigError("the recent and baseline spans need at least one week each")
        if self.window_days < 1:
            raise ConfigError("the conversion window must be at least one day")
        if not 0 < self.alpha < 1:
            raise ConfigError(f"alpha must be between 0 and 1, got {self.alpha}")


@dataclass(frozen=True)
class SignalWeek:
    """One complete week: MQLs that entered in it, how many of them were accepted within the window, and whether
    the window of its last MQL has passed (`mature`); the acceptance rate is only shown for mature weeks."""

    week: date
    mqls: int
    accepted: int
    mature: bool

    @property
    def rate(self) -> float | None:
        return self.accepted / self.mqls if self.mature and self.mqls else None


@dataclass(frozen=True)
class VolumeTest:
    """MQLs per week, recent span against baseline, and the one-sided exact test of a rise."""

    recent_first: date | None
    recent_last: date | None
    baseline_first: date | None
    baseline_last: date | None
    recent_weeks: int
    baseline_weeks: int
    recent_mqls: int
    baseline_mqls: int
    recent_per_week: float | None
    baseline_per_week: float | None
    change: float | None  # relative: +0.42 is 42 % more MQLs a week
    dispersion: float
    p_value: float | None
    enough: bool
    significant: bool


@dataclass(frozen=True)
class AcceptanceTest:
    """Acceptance of mature MQL weeks, recent span against baseline, and the one-sided Fisher test of a fall."""

    recent_first: date | None
    recent_last: date | None
    baseline_first: date | None
    baseline_last: date | None
    recent_weeks: int
    baseline_weeks: int
    recent_mqls: int
    recent_accepted: int
    baseline_mqls: int
    baseline_accepted: int
    recent_rate: float | None
    baseline_rate: float | None
    change: float | None  # relative: -0.42 is a rate 42 % lower
    expected_accepted: float | None  # in the recent span, at the baseline rate
    dispersion: float
    p_value: float | None
    enough: bool
    significant: bool


@dataclass(frozen=True)
class SignalReading:
    """What the signal said as of an earlier Monday 00:00 (one point of its history)."""

    as_of: datetime
    status: Status
    volume_change: float | None
    volume_p_value: float | None
    acceptance_change: float | None
    acceptance_p_value: float | None


@dataclass(frozen=True)
class VersionChange:
    """A definitions version that took effect within the signal's span, judged on the mature weeks before it:
    those weeks as counted then (`before`: the version in force then) and recounted under the new version."""

    version: int
    before: int
    effective: date
    first_week: date | None
    last_week: date | None
    mqls_then: int
    accepted_then: int
    mqls_under_new: int
    accepted_under_new: int
    volume_change: float | None
    acceptance_change: float | None
    p_value: float | None
    enough: bool
    flagged: bool

    @property
    def rate_then(self) -> float | None:
        return self.accepted_then / self.mqls_then if self.mqls_then else None

    @property
    def rate_under_new(self) -> float | None:
        return self.accepted_under_new / self.mqls_under_new if self.mqls_under_new else None

    def sentence(self, mql: str, nxt: str) -> str:
        m, n = _label(mql), _label(nxt)
        counted = (
            f"Version {self.version} of the definitions (in force from {self.effective}) counts "
            f"{abs(self.volume_change or 0) * 100:.0f} % {'more' if (self.volume_change or 0) >= 0 else 'fewer'} "
            f"{m}s than version {self.before} over the {_weeks(self.first_week, self.last_week)} before it "
            f"({self.mqls_under_new:,} against {self.mqls_then:,}), and sales accepted "
            f"{_pct(self.rate_under_new)} of them against {_pct(self.rate_then)} ({_p(self.p_value)})"
        )
        if self.flagged:
            return (
                f"{counted}: the {m} definition was loosened, and the {m}→{n} handoff took leads sales does not want."
            )
        if not self.enough:
            return f"{counted}; too few {m}s to judge the change yet."
        return f"{counted}: no sign that the change loosened the {m} definition."

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rate_then": self.rate_then, "rate_under_new": self.rate_under_new}


def _weeks(first: date | None, last: date | None) -> str:
    if first is None or last is None:
        return "weeks"
    count = (last - first).days // 7 + 1
    return f"{count} week{'s' if count != 1 else ''}"


@dataclass(frozen=True)
class LooseningSignal:
    """The signal as of a moment: status, the sentence to show, both tests and the weekly series behind them."""

    status: Status
    sentence: str
    reasons: list[str]
    as_of: datetime
    mql_stage: str
    next_stage: str
    params: SignalParams
    volume: VolumeTest
    acceptance: AcceptanceTest
    weeks: list[SignalWeek]
    definition_version: int | None = None
    backend: str | None = None
    spans: dict[str, dict[date, str]] = field(default_factory=dict, repr=False)
    history: list[SignalReading] = field(default_factory=list)
    #: The newest definitions change within the signal's span, judged on the weeks before it (None: no change).
    version_change: VersionChange | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly document (dates as ISO strings), the same for the CLI and the REST API."""
        volume_span = self.spans.get("volume", {})
        acceptance_span = self.spans.get("acceptance", {})
        document: dict[str, Any] = _plain(
            {
                "status": self.status,
                "sentence": self.sentence,
                "reasons": self.reasons,
                "as_of": self.as_of,
                "definition_version": self.definition_version,
                "backend": self.backend,
                "mql_stage": self.mql_stage,
                "next_stage": self.next_stage,
                "params": asdict(self.params),
                "volume": asdict(self.volume),
                "acceptance": asdict(self.acceptance),
                "weeks": [
                    {
                        "week": w.week,
                        "mqls": w.mqls,
                        "accepted": w.accepted,
                        "acceptance_rate": w.rate,
                        "mature": w.mature,
                        "volume_span": volume_span.get(w.week),
                        "acceptance_span": acceptance_span.get(w.week),
                    }
                    for w in self.weeks
                ],
                "history": [asdict(reading) for reading in self.history],
                "version_change": self.version_change.as_dict() if self.version_change is not None else None,
            }
        )
        return document


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --- the statistics: pure functions of a weekly series ---------------------------------------------------------


def dispersion(counts: Sequence[int], totals: Sequence[int] | None = None) -> float:
    """The quasi-likelihood dispersion factor of baseline weeks, at least 1.

    Without `totals`: weekly counts against one Poisson rate, ``sum((c - mean)^2 / mean) / (k - 1)``.
    With `totals`: weekly successes out of `totals` against one proportion, the Pearson chi-square of the k x 2
    table over ``k - 1``. Fewer than two weeks, or a degenerate rate, give 1.
    """
    if totals is None:
        k = len(counts)
        mean = sum(counts) / k if k else 0.0
        if k < 2 or mean <= 0:
            return 1.0
        chi2 = sum((c - mean) ** 2 for c in counts) / mean
        return max(1.0, chi2 / (k - 1))
    pairs = [(c, n) for c, n in zip(counts, totals, strict=True) if n > 0]
    k = len(pairs)
    n_all = sum(n for _, n in pairs)
    p = sum(c for c, _ in pairs) / n_all if n_all else 0.0
    if k < 2 or p <= 0 or p >= 1:
        return 1.0
    chi2 = sum((c - n * p) ** 2 / (n * p * (1 - p)) for c, n in pairs)
    return max(1.0, chi2 / (k - 1))


def volume_p_value(recent: int, baseline: int, recent_weeks: int, baseline_weeks: int, phi: float = 1.0) -> float:
    """One-sided p-value of "the recent weekly rate is higher than the baseline's".

    With Poisson-like weeks (``phi`` 1) the exact conditional test: given the total ``n``, the recent count is
    Binomial(n, r / (r + b)) under no change. With more spread (``phi`` > 1) the quasi-Poisson test: the same
    difference over ``sqrt(phi)`` times its binomial standard deviation, against Student's t with ``b - 1``
    degrees of freedom, because ``phi`` is itself estimated from the ``b`` baseline weeks.
    """
    from scipy.stats import binomtest, t

    n = recent + baseline
    if n == 0:
        return 1.0
    share = recent_weeks / (recent_weeks + baseline_weeks)
    if phi <= 1.0:
        return float(binomtest(recent, n, share, alternative="greater").pvalue)
    z = (recent - n * share) / math.sqrt(phi * n * share * (1 - share))
    return float(t.sf(z, baseline_weeks - 1))


def acceptance_p_value(
    recent_accepted: int, recent: int, baseline_accepted: int, baseline: int, phi: float = 1.0, weeks: int = 2
) -> float:
    """One-sided p-value of "the recent acceptance rate is lower than the baseline's".

    With binomial-like weeks (``phi`` 1) Fisher's exact test on the 2x2 table. With more spread (``phi`` > 1) the
    two-proportion z statistic (pooled rate) over ``sqrt(phi)``, against Student's t with ``weeks - 1`` degrees
    of freedom (``weeks``: the baseline weeks ``phi`` was estimated from).
    """
    from scipy.stats import fisher_exact, t

    if recent == 0 or baseline == 0:
        return 1.0
    if phi <= 1.0:
        table = [[recent_accepted, recent - recent_accepted], [baseline_accepted, baseline - baseline_accepted]]
        return float(fisher_exact(table, alternative="less").pvalue)
    pooled = (recent_accepted + baseline_accepted) / (recent + baseline)
    if pooled in (0.0, 1.0):
        return 1.0
    se = math.sqrt(phi * pooled * (1 - pooled) * (1 / recent + 1 / baseline))
    z = (recent_accepted / recent - baseline_accepted / baseline) / se
    return float(t.cdf(z, max(weeks - 1, 1)))


def _volume_test(recent: Sequence[SignalWeek], baseline: Sequence[SignalWeek], params: SignalParams) -> VolumeTest:
    r, b = len(recent), len(baseline)
    n_r = sum(w.mqls for w in recent)
    n_b = sum(w.mqls for w in baseline)
    per_r = n_r / r if r else None
    per_b = n_b / b if b else None
    change = per_r / per_b - 1 if per_r is not None and per_b else None
    phi = dispersion([w.mqls for w in baseline])
    enough = r == params.recent_weeks and b >= params.recent_weeks and min(n_r, n_b) >= params.min_mqls
    p_value = volume_p_value(n_r, n_b, r, b, phi) if r and b else None
    significant = (
        enough
        and p_value is not None
        and p_value < params.alpha
        and change is not None
        and change >= params.min_volume_rise
    )
    return VolumeTest(
        recent_first=recent[0].week if recent else None,
        recent_last=recent[-1].week if recent else None,
        baseline_first=baseline[0].week if baseline else None,
        baseline_last=baseline[-1].week if baseline else None,
        recent_weeks=r,
        baseline_weeks=b,
        recent_mqls=n_r,
        baseline_mqls=n_b,
        recent_per_week=per_r,
        baseline_per_week=per_b,
        change=change,
        dispersion=phi,
        p_value=p_value,
        enough=enough,
        significant=significant,
    )


def _acceptance_test(
    recent: Sequence[SignalWeek], baseline: Sequence[SignalWeek], params: SignalParams
) -> AcceptanceTest:
    n_r = sum(w.mqls for w in recent)
    a_r = sum(w.accepted for w in recent)
    n_b = sum(w.mqls for w in baseline)
    a_b = sum(w.accepted for w in baseline)
    rate_r = a_r / n_r if n_r else None
    rate_b = a_b / n_b if n_b else None
    change = rate_r / rate_b - 1 if rate_r is not None and rate_b else None
    expected = n_r * rate_b if rate_b is not None else None
    phi = dispersion([w.accepted for w in baseline], [w.mqls for w in baseline])
    enough = (
        len(recent) == params.recent_weeks
        and len(baseline) >= params.recent_weeks
        and min(n_r, n_b) >= params.min_mqls
        and expected is not None
        and expected >= params.min_expected
    )
    weeks = sum(1 for w in baseline if w.mqls)
    p_value = acceptance_p_value(a_r, n_r, a_b, n_b, phi, weeks) if n_r and n_b else None
    significant = (
        enough
        and p_value is not None
        and p_value < params.alpha
        and change is not None
        and change <= -params.min_rate_drop
    )
    return AcceptanceTest(
        recent_first=recent[0].week if recent else None,
        recent_last=recent[-1].week if recent else None,
        baseline_first=baseline[0].week if baseline else None,
        baseline_last=baseline[-1].week if baseline else None,
        recent_weeks=len(recent),
        baseline_weeks=len(baseline),
        recent_mqls=n_r,
        recent_accepted=a_r,
        baseline_mqls=n_b,
        baseline_accepted=a_b,
        recent_rate=rate_r,
        baseline_rate=rate_b,
        change=change,
        expected_accepted=expected,
        dispersion=phi,
        p_value=p_value,
        enough=enough,
        significant=significant,
    )


def _split(weeks: Sequence[SignalWeek], params: SignalParams) -> tuple[list[SignalWeek], list[SignalWeek]]:
    """The last `recent_weeks` of `weeks` and up to `baseline_weeks` before them."""
    recent = list(weeks[-params.recent_weeks :])
    before = list(weeks[: len(weeks) - len(recent)])
    return recent, before[-params.baseline_weeks :] if before else []


def evaluate(
    weeks: Sequence[SignalWeek], params: SignalParams = SignalParams(), mql: str = "mql", accepted_at: str = "sql"
) -> tuple[Status, str, list[str], VolumeTest, AcceptanceTest, dict[str, dict[date, str]]]:
    """The signal over a series of consecutive complete weeks, oldest first (a pure function: no workspace).

    Returns the status, the sentence, the reasons behind "not enough data", both tests, and which span each week
    fell in for each test.
    """
    ordered = sorted(weeks, key=lambda w: w.week)
    vol_recent, vol_base = _split(ordered, params)
    mature = [w for w in ordered if w.mature]
    acc_recent, acc_base = _split(mature, params)
    volume = _volume_test(vol_recent, vol_base, params)
    acceptance = _acceptance_test(acc_recent, acc_base, params)
    spans = {
        "volume": {**{w.week: "baseline" for w in vol_base}, **{w.week: "recent" for w in vol_recent}},
        "acceptance": {**{w.week: "baseline" for w in acc_base}, **{w.week: "recent" for w in acc_recent}},
    }
    reasons = _shortfalls(volume, acceptance, params, _label(mql))
    if reasons:
        status: Status = "not enough data"
    elif volume.significant and acceptance.significant:
        status = "flag"
    else:
        status = "ok"
    sentence = _sentence(status, volume, acceptance, reasons, params, mql, accepted_at)
    return status, sentence, reasons, volume, acceptance, spans


def _shortfalls(volume: VolumeTest, acceptance: AcceptanceTest, params: SignalParams, mql: str) -> list[str]:
    """Why the data cannot answer, in plain words (empty when it can)."""
    reasons = []
    need = params.min_mqls
    if volume.recent_weeks < params.recent_weeks or volume.baseline_weeks < params.recent_weeks:
        reasons.append(
            f"{volume.recent_weeks + volume.baseline_weeks} complete weeks of history; the volume comparison needs "
            f"at least {2 * params.recent_weeks}"
        )
    elif min(volume.recent_mqls, volume.baseline_mqls) < need:
        reasons.append(
            f"{volume.recent_mqls} {mql}s in the last {volume.recent_weeks} weeks and {volume.baseline_mqls} in the "
            f"{volume.baseline_weeks} before; at least {need} are needed in each"
        )
    if acceptance.recent_weeks < params.recent_weeks or acceptance.baseline_weeks < params.recent_weeks:
        reasons.append(
            f"{acceptance.recent_weeks + acceptance.baseline_weeks} weeks whose {params.window_days}-day acceptance "
            f"window has passed; the acceptance comparison needs at least {2 * params.recent_weeks}"
        )
    elif min(acceptance.recent_mqls, acceptance.baseline_mqls) < need:
        reasons.append(
            f"{acceptance.recent_mqls} {mql}s in the {acceptance.recent_weeks} newest weeks whose acceptance window "
            f"has passed and {acceptance.baseline_mqls} in the {acceptance.baseline_weeks} before; at least {need} "
            "are needed in each"
        )
    elif acceptance.expected_accepted is not None and acceptance.expected_accepted < params.min_expected:
        reasons.append(
            f"only {acceptance.expected_accepted:.1f} acceptances expected at the baseline rate; at least "
            f"{params.min_expected:g} are needed"
        )
    return reasons


def _label(stage: str) -> str:
    """`mql` -> MQL, `sql` -> SQL; longer names in words."""
    return stage.upper() if len(stage) <= 4 and stage.isalnum() else stage.replace("_", " ")


def _p(value: float | None) -> str:
    if value is None:
        return "p n/a"
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f} %"


def _sentence(
    status: Status,
    volume: VolumeTest,
    acceptance: AcceptanceTest,
    reasons: list[str],
    params: SignalParams,
    mql: str,
    nxt: str,
) -> str:
    m, n = _label(mql), _label(nxt)
    step = f"{m}→{n} acceptance"
    change = volume.change or 0.0
    moved = f"{m}s {'rose' if change >= 0 else 'fell'} {abs(change) * 100:.0f} % ({_p(volume.p_value)})"
    rates = f"from {_pct(acceptance.baseline_rate)} to {_pct(acceptance.recent_rate)}"
    if status == "not enough data":
        return f"Not enough data to judge the {m} definition: " + "; ".join(reasons) + "."
    if status == "flag":
        return (
            f"{m}s rose {change * 100:.0f} % ({_p(volume.p_value)}) while {step} fell {rates} "
            f"({_p(acceptance.p_value)}): check whether the {m} definition was loosened."
        )
    if not volume.significant:
        if change < 0 or volume.p_value is None:
            pass
        elif volume.p_value >= params.alpha:
            moved = f"{m}s rose {change * 100:.0f} %, within chance ({_p(volume.p_value)})"
        else:
            moved += f", less than the {_pct(params.min_volume_rise)} rise that counts"
        return f"{moved}; {step} went {rates}: no sign of a looser {m} definition."
    return (
        f"{moved} but {step} did not fall significantly ({rates}, {_p(acceptance.p_value)}): the extra {m}s are "
        "accepted as before."
    )


# --- the workspace side: the weekly series from the funnel engine ----------------------------------------------


def handoff_stages(definitions: Definitions, stage: str | None = None) -> tuple[str, str]:
    """The MQL stage (the last marketing stage, or `stage`) and the stage after it (where sales accepts)."""
    names = definitions.stage_names
    if stage is None:
        marketing = [i for i, s in enumerate(definitions.stages) if s.side == "marketing"]
        if not marketing or marketing[-1] == len(names) - 1:
            raise ConfigError(
                "the loosening signal needs a handoff: a marketing stage followed by a sales stage in the definitions"
            )
        index = marketing[-1]
    else:
        if stage not in names:
            raise ConfigError(f"unknown stage {stage!r}; the stages are {', '.join(names)}")
        index = names.index(stage)
        if index == len(names) - 1:
            raise ConfigError(f"{stage!r} is the last stage: no stage accepts it")
    return names[index], names[index + 1]


def _monday(moment: datetime) -> datetime:
    day = moment.date() - timedelta(days=moment.weekday())
    return datetime(day.year, day.month, day.day)


@dataclass(frozen=True)
class WeeklyCounts:
    """The weekly series and the definitions it was counted under (the funnel result's version)."""

    weeks: list[SignalWeek]
    definition_version: int
    mql: str
    accepted_at: str


def weekly_counts(
    ws: DefinitionsContext,
    as_of: datetime,
    params: SignalParams,
    stage: str | None = None,
    extra_weeks: int = 0,
    *,
    until: datetime | None = None,
    version: int | None = None,
) -> WeeklyCounts:
    """The complete weeks the signal reads, oldest first, counted by the funnel engine.

    Weeks run from the first baseline week of the acceptance test (the earliest needed), less `extra_weeks`, to the
    last complete week; weeks that began before the first lead was created are not history and are left out. The
    MQL stage and the next one come from the definitions the funnel result was computed under.
    """
    last = _monday(as_of) - WEEK  # the newest week that ended by as_of
    if until is not None:  # only weeks that ended by `until` (the weeks before a definitions change)
        last = min(last, _monday(until) - WEEK)
    newest_mature = _monday(as_of - WEEK - timedelta(days=params.window_days))
    span = params.recent_weeks + params.baseline_weeks
    first = min(last, newest_mature) - WEEK * (span - 1 + extra_weeks)
    leads = usable(ws.warehouse.table("leads"), "leads")
    started = to_timestamp(leads.created_at.min().to_pyarrow().as_py())
    if started is not None and started > first:
        first = _monday(started) + (WEEK if started > _monday(started) else timedelta(0))
    if started is None or first > last:
        current = ws.definitions.current()
        return WeeklyCounts([], current.version, *handoff_stages(current.definitions, stage))
    result = ws.funnel(
        period="week", start=first, end=last + WEEK, window_days=params.window_days, as_of=as_of, version=version
    )
    mql, accepted_at = handoff_stages(ws.definitions.version(result.definition_version).definitions, stage)
    mqls: dict[datetime, int] = {}
    accepted: dict[datetime, int] = {}
    for row in result.rows():
        when = to_timestamp(row["period"])
        assert when is not None
        if row["stage"] == mql:
            mqls[when] = int(row["reached"] or 0)
        elif row["stage"] == accepted_at:
            accepted[when] = int(row["converted_from_previous"] or 0)
    weeks = []
    week = first
    while week <= last:
        weeks.append(
            SignalWeek(
                week=week.date(),
                mqls=mqls.get(week, 0),
                accepted=accepted.get(week, 0),
                mature=week + WEEK + timedelta(days=params.window_days) <= as_of,
            )
        )
        week += WEEK
    return WeeklyCounts(weeks, result.definition_version, mql, accepted_at)


def loosening_signal(
    ws: DefinitionsContext,
    *,
    as_of: date | datetime | str | None = None,
    recent_weeks: int = 4,
    baseline_weeks: int = 12,
    window_days: int | None = None,
    alpha: float = 0.05,
    min_mqls: int = 30,
    min_expected: float = 5.0,
    min_volume_rise: float = 0.10,
    min_rate_drop: float = 0.10,
    stage: str | None = None,
    history_weeks: int = 12,
) -> LooseningSignal:
    """The weekly loosening signal of a workspace as of `as_of` (default now); see the module's docstring.

    `window_days` defaults to the workspace setting ``signal_window_days``; `stage` to the last marketing stage.
    `history` holds what the signal said as of each of the `history_weeks - 1` Mondays before, then as of `as_of`:
    one query serves them all, since a week's MQLs, and the acceptances of a week whose window has passed, do not
    change with a later as-of time.
    """
    if not 1 <= history_weeks <= 104:
        raise ConfigError(
            f"history_weeks must be between 1 and 104, got {history_weeks}", field="history_weeks", value=history_weeks
        )
    window = window_days if window_days is not None else int(ws.settings.get("signal_window_days", 14))
    params = SignalParams(
        recent_weeks=recent_weeks,
        baseline_weeks=baseline_weeks,
        window_days=window,
        alpha=alpha,
        min_mqls=min_mqls,
        min_expected=min_expected,
        min_volume_rise=min_volume_rise,
        min_rate_drop=min_rate_drop,
    )
    moment = as_of_or_now(as_of)
    if not 1900 <= moment.year <= 9000:
        raise ConfigError(
            f"{moment:%Y-%m-%d} is out of the range of weeks the signal can use", field="as_of", value=as_of
        )
    counts = weekly_counts(ws, moment, params, stage, extra_weeks=history_weeks - 1)
    mql, nxt, every_week = counts.mql, counts.accepted_at, counts.weeks
    status, sentence, reasons, volume, acceptance, spans = evaluate(every_week, params, mql, nxt)
    # The Mondays before `as_of` (the last one strictly before it), oldest first, then `as_of` itself.
    monday = _monday(moment) if moment > _monday(moment) else _monday(moment) - WEEK
    history = [_reading(every_week, monday - WEEK * back, params) for back in range(history_weeks - 2, -1, -1)]
    history.append(SignalReading(moment, status, volume.change, volume.p_value, acceptance.change, acceptance.p_value))
    change = version_change(ws, moment, params, stage)
    if change is not None and change.flagged:
        status = "flag"
        sentence = change.sentence(mql, nxt)
        reasons = []
    in_spans = set(spans["volume"]) | set(spans["acceptance"])
    oldest = min(in_spans) if in_spans else None
    weeks = [w for w in every_week if oldest is None or w.week >= oldest]
    return LooseningSignal(
        status=status,
        sentence=sentence,
        reasons=reasons,
        as_of=moment,
        mql_stage=mql,
        next_stage=nxt,
        params=params,
        volume=volume,
        acceptance=acceptance,
        weeks=weeks,
        definition_version=counts.definition_version,
        backend=ws.warehouse.backend_name,
        spans=spans,
        history=history,
        version_change=change,
    )


def version_change(
    ws: DefinitionsContext, as_of: datetime, params: SignalParams, stage: str | None = None
) -> VersionChange | None:
    """The newest definitions version that took effect within the signal's span (the recent and baseline weeks
    before `as_of`), judged on up to `baseline_weeks` mature weeks before it (module docs); None without one, or
    when it changed nothing about who reaches the MQL stage."""
    counting = ws.counting(as_of)
    span_start = as_of - WEEK * (params.recent_weeks + params.baseline_weeks)
    changed = [
        (before, after)
        for before, after in zip(counting.stretches, counting.stretches[1:], strict=False)
        if after.start is not None and after.start >= span_start
    ]
    if not changed:
        return None
    before, after = changed[-1]
    assert after.start is not None
    mql, _ = handoff_stages(after.version.definitions, stage)
    if _admits(before.version.definitions, mql) == _admits(after.version.definitions, mql):
        return None
    weeks_params = SignalParams(
        recent_weeks=1, baseline_weeks=max(params.baseline_weeks - 1, 1), window_days=params.window_days
    )
    then = weekly_counts(ws, as_of, weeks_params, stage, until=after.start)
    under = weekly_counts(ws, as_of, weeks_params, stage, until=after.start, version=after.version.version)
    mature_then = [w for w in then.weeks if w.mature]
    mature_under = [w for w in under.weeks if w.mature]
    n_then, a_then = sum(w.mqls for w in mature_then), sum(w.accepted for w in mature_then)
    n_new, a_new = sum(w.mqls for w in mature_under), sum(w.accepted for w in mature_under)
    volume = n_new / n_then - 1 if n_then else None
    rate_then = a_then / n_then if n_then else None
    rate_new = a_new / n_new if n_new else None
    acceptance = rate_new / rate_then - 1 if rate_new is not None and rate_then else None
    p_value = acceptance_p_value(a_new, n_new, a_then, n_then) if n_new and n_then else None
    enough = min(n_then, n_new) >= params.min_mqls and (rate_then or 0) * n_new >= params.min_expected
    flagged = (
        enough
        and volume is not None
        and volume >= params.min_volume_rise
        and acceptance is not None
        and acceptance <= -params.min_rate_drop
        and p_value is not None
        and p_value < params.alpha
    )
    return VersionChange(
        version=after.version.version,
        before=before.version.version,
        effective=after.start.date(),
        first_week=mature_then[0].week if mature_then else None,
        last_week=mature_then[-1].week if mature_then else None,
        mqls_then=n_then,
        accepted_then=a_then,
        mqls_under_new=n_new,
        accepted_under_new=a_new,
        volume_change=volume,
        acceptance_change=acceptance,
        p_value=p_value,
        enough=enough,
        flagged=bool(flagged),
    )


def _admits(definitions: Definitions, stage: str) -> tuple[Any, ...]:
    """What decides who reaches `stage` under cumulative counting: the rules of it and of every later stage, and
    the scoring."""
    names = definitions.stage_names
    at = names.index(stage) if stage in names else 0
    return (tuple((s.name, s.rule) for s in definitions.stages[at:]), definitions.scoring)


def _reading(weeks: Sequence[SignalWeek], as_of: datetime, params: SignalParams) -> SignalReading:
    """The signal as of an earlier moment, from the weeks counted now: those complete by then, matured by then."""
    window = WEEK + timedelta(days=params.window_days)
    then = [
        SignalWeek(w.week, w.mqls, w.accepted, _start(w.week) + window <= as_of)
        for w in weeks
        if _start(w.week) + WEEK <= as_of
    ]
    status, _, _, volume, acceptance, _ = evaluate(then, params)
    return SignalReading(as_of, status, volume.change, volume.p_value, acceptance.change, acceptance.p_value)


def _start(week: date) -> datetime:
    return datetime(week.year, week.month, week.day)
