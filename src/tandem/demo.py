"""The demo company: two years of a realistic B2B software vendor's CRM and marketing data, from a seed.

Why: `tandem demo`, the quick start, the docs and the tests need data with the shape, the volume and the
mess of a real company, and nobody's real data. Everything is drawn from seeded numpy generators, fully
vectorised (a million leads in seconds), and written as one Parquet file per canonical table (see
`tandem.warehouse.schema`). The same seed, `today` and lead count always give the same values.

The company
    A SaaS vendor selling four plans (Starter, Growth, Scale, Enterprise) to SMB, mid-market and enterprise
    accounts in North America, EMEA, APAC and LATAM. Lead volume grows about 80 % over the two years, is low
    at weekends, in July-August and over the year-end holidays, and jumps in the last two weeks of every
    quarter, when marketing loosens its lead definition to hit a number: those quarter-end leads reach MQL
    30 % less often. Sales pulls deals into quarter end too (won dates cluster in a quarter's last days).
    Deal size and sales cycle grow with the account segment.

Channels: cost per lead; conversion lead->MQL, MQL->SQL, SQL->opportunity, opportunity->won (before the
lead, rep and segment effects); median days of each step::

    paid_search  $140  15 % 48 % 70 % 33 %    2 / 3   /  6 / 45
    paid_social   $85  10 % 40 % 62 % 30 %    6 / 5   /  9 / 55  share grows over the two years
    email         $18  13 % 45 % 66 % 35 %    4 / 4   /  8 / 50
    events       $420  22 % 52 % 72 % 36 %    3 / 3   /  7 / 60  spring and autumn conference seasons
    webinar      $110  19 % 50 % 68 % 34 %  1.5 / 3.5 /  7 / 50  summer dip
    content       $45  12 % 44 % 64 % 32 %   10 / 6   / 10 / 58  organic/SEO: cost is content production
    referral      $60  25 % 60 % 80 % 42 %    1 / 2   /  4 / 35  partner fees
    outbound     $160  14 % 46 % 74 % 29 %    5 / 4   /  8 / 65  the SDR team grows over the two years

Sales: ten reps in three teams (SMB in New York, Mid-Market in Chicago, Enterprise in London: the calendars of
the demo contract, `DEMO_SERVICE_LEVELS`); leads are routed to the team of their account's segment. Reps differ
in how fast they first follow up an MQL, in the share of MQLs they never follow up, and in win rate. A fast
follow-up raises MQL->SQL conversion, a late or missing one lowers it. What reps do happens in their team's
working hours (lunch breaks, weekends and holidays off): each delay is drawn in business time and turned into an
instant with the team's calendar. The first follow-up is the delay that set the lead's odds, made business time
(the same up to an hour, then its square root in hours: a median of a quarter of a business hour for Ava Thompson,
most of a working day for Daniel Novak); a hot lead's (score 80 or more) is sooner. Then a cadence:
two more calls or emails, a rep's usual gap of business hours apart (one, for the leads the rep gives up on
early: Liam Brennan, about half of his), so most leads get three attempts within five working days; an accepted
lead gets a few more activities over the following weeks.

Journeys: each lead has 1-8 marketing touches: 0-4 before it is created, one at creation (its own channel
and campaign, kind e.g. form_submission), and nurture touches after creation and before its opportunity (or
within 120 days).

Time: the history is the 730 days before `today`. The cut-off is `today` at 00:00 UTC, exclusive: every
timestamp (lead created_at, stage events, touches, activities, opportunity created_at) is before it, and
every event date (spend date, close_date of a won or lost deal) is at most `today - 1 day`. Two dates are
plans, not events, and may lie on or after `today`: the expected close_date of an open opportunity and the
end_date of a campaign still running. Leads in flight at the cut-off are censored: their later stages have
not happened yet.

Files: leads (the canonical columns plus segment, job_title and team), stage_events (amount on the
opportunity and won events; source marketing_automation or crm), opportunities (stage: Discovery, Demo,
Proposal, Negotiation, Closed Won, Closed Lost), touches, campaigns, spend (one row per campaign and day,
with its channel), activities (kind call, email or meeting; actor = the lead's owner), handoffs (see below),
accounts (the canonical columns plus country).

Handoffs: every lead that reached the handoff stage is `assigned` to its team at that moment. 6 % go first to
another rep of the team and are `reassigned` to their owner an hour or two of business time later (at most half-way
to the owner's first follow-up), so the leads file's owner is whoever holds the lead in the end. The owner then
decides, shortly before or at the first follow-up: leads that go on to the next stage are `accepted` (at or before
that stage); of the others 28 % are `rejected` (times a channel factor: 1.6 for paid social, 0.5 for referrals),
with a reason code and, three times in four, a note; a duplicate lead always as `duplicate`, and `no_contact` after
the three attempts. 20 % are `recycled` to nurture most of a working day after the first touch; the rest are
accepted and lost later. No attempt follows a rejection or a recycle. A lead its rep ignores gets no activity and a
decision only one time in seven, days later: its clocks stay open or breach. 3 % of the leads whose clock stays
open a business hour or more are paused (`status` waiting_on_customer, then working, inside the clock). Decisions,
reassignments and status changes fall in the team's working hours, except a lead's acceptance when it reached the
next stage before the team's next working minute. Decisions after the cut-off are not written (the clock is open at
the cut-off).

Data-quality flaws a real CRM has, each on about 1.2 % of the leads that can have it (at most one stage
flaw per lead), and nothing that breaks an import (no unknown lead_id, no duplicate key):

- out of order: the sql event is recorded before the mql event (the two timestamps swapped);
- re-entered: a second mql event, weeks after the first (recycled to nurture, qualified again);
- skipped: a lead reaches opportunity with no sql event (mql -> opportunity);
- before created: the mql event is before the lead's created_at (a CRM sync lag): a negative duration, and
  the mql event also precedes the lead's `lead` event;
- missing channel: about 1 % of leads have no channel (and no campaign_id);
- duplicate email: about 1 % of leads are a second lead_id for an earlier lead's email (the same person and
  account, created later, maybe routed to another rep).

Custom stages: the last one means won, the second is the handoff reps follow up (with two stages, the
first), the opportunity stage is "opportunity" when present, else the second to last. Rates and lags are
interpolated from the four default steps; the flaws use stages by position (the 2nd and 3rd for mql, sql).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tandem.errors import ConfigError
from tandem.warehouse.schema import DEFAULT_STAGES, HANDOFF_EVENTS

__all__ = [
    "CHANNELS",
    "DEMO_SERVICE_LEVELS",
    "FLAW_SHARE",
    "HISTORY_DAYS",
    "PAUSE_SHARE",
    "REASSIGN_SHARE",
    "REJECTION_REASONS",
    "REPS",
    "ChannelProfile",
    "Rep",
    "cutoff",
    "generate_company",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]


def _words(text: str, sep: str = " ") -> tuple[str, ...]:
    """A tuple of names from one string: keeps the long lists of names below readable."""
    return tuple(text.split(sep))


HISTORY_DAYS = 730
DAY = 86_400
HOUR = 3_600
NEVER = np.iinfo(np.int64).max  # "not reached": compares after every real time
#: Share of eligible leads that carry each data-quality flaw.
FLAW_SHARE = 0.012
#: Share of leads with a missing channel, and of leads duplicating an earlier lead's email.
MISSING_CHANNEL_SHARE = 0.01
DUPLICATE_EMAIL_SHARE = 0.01


@dataclass(frozen=True)
class ChannelProfile:
    """How one marketing channel behaves: volume, cost, conversion and speed at each default funnel step."""

    name: str
    share: float  # share of lead volume, before seasonality and trend
    cost_per_lead: float  # dollars spent per lead created
    rates: tuple[float, float, float, float]  # lead->mql, mql->sql, sql->opportunity, opportunity->won
    lag_days: tuple[float, float, float, float]  # median days of the same four steps
    deal_factor: float  # deal size multiplier
    pre_touches: float  # mean touches before the lead is created
    lookback_days: float  # median days from such a touch to creation
    tracks: tuple[str, ...]  # campaign programmes run side by side
    campaign_days: int  # typical campaign length
    touch_kind: str
    creation_kind: str
    season: tuple[float, ...] = (1.0,) * 12  # volume factor per calendar month
    trend: float = 1.0  # volume at the end of the history over volume at its start


CHANNELS: tuple[ChannelProfile, ...] = (
    ChannelProfile(
        name="paid_search",
        share=0.22,
        cost_per_lead=140.0,
        rates=(0.15, 0.48, 0.70, 0.33),
        lag_days=(2.0, 3.0, 6.0, 45.0),
        deal_factor=1.0,
        pre_touches=1.0,
        lookback_days=12.0,
        tracks=("Brand", "Generic", "Competitor"),
        campaign_days=90,
        touch_kind="ad_click",
        creation_kind="form_submission",
    ),
    ChannelProfile(
        name="paid_social",
        share=0.17,
        cost_per_lead=85.0,
        rates=(0.10, 0.40, 0.62, 0.30),
        lag_days=(6.0, 5.0, 9.0, 55.0),
        deal_factor=0.85,
        pre_touches=1.2,
        lookback_days=20.0,
        tracks=("LinkedIn Lead Gen", "Retargeting", "Awareness"),
        campaign_days=45,
        touch_kind="ad_click",
        creation_kind="lead_form",
        trend=1.8,
    ),
    ChannelProfile(
        name="email",
        share=0.12,
        cost_per_lead=18.0,
        rates=(0.13, 0.45, 0.66, 0.35),
        lag_days=(4.0, 4.0, 8.0, 50.0),
        deal_factor=0.95,
        pre_touches=1.5,
        lookback_days=15.0,
        tracks=("Newsletter", "Nurture"),
        campaign_days=30,
        touch_kind="email_click",
        creation_kind="form_submission",
    ),
    ChannelProfile(
        name="events",
        share=0.07,
        cost_per_lead=420.0,
        rates=(0.22, 0.52, 0.72, 0.36),
        lag_days=(3.0, 3.0, 7.0, 60.0),
        deal_factor=1.15,
        pre_touches=0.8,
        lookback_days=25.0,
        tracks=("Trade Show", "Roadshow"),
        campaign_days=20,
        touch_kind="event_visit",
        creation_kind="badge_scan",
        season=(0.6, 0.9, 1.4, 1.4, 1.3, 0.9, 0.4, 0.2, 1.4, 1.5, 1.2, 0.4),
    ),
    ChannelProfile(
        name="webinar",
        share=0.10,
        cost_per_lead=110.0,
        rates=(0.19, 0.50, 0.68, 0.34),
        lag_days=(1.5, 3.5, 7.0, 50.0),
        deal_factor=1.0,
        pre_touches=1.3,
        lookback_days=18.0,
        tracks=("Product Webinar", "Expert Series"),
        campaign_days=30,
        touch_kind="webinar_attended",
        creation_kind="webinar_registration",
        season=(1.0,) * 6 + (0.6, 0.5) + (1.0,) * 4,
    ),
    ChannelProfile(
        name="content",
        share=0.16,
        cost_per_lead=45.0,
        rates=(0.12, 0.44, 0.64, 0.32),
        lag_days=(10.0, 6.0, 10.0, 58.0),
        deal_factor=0.9,
        pre_touches=0.9,
        lookback_days=30.0,
        tracks=("SEO", "Ebook"),
        campaign_days=120,
        touch_kind="content_download",
        creation_kind="content_download",
        trend=1.3,
    ),
    ChannelProfile(
        name="referral",
        share=0.05,
        cost_per_lead=60.0,
        rates=(0.25, 0.60, 0.80, 0.42),
        lag_days=(1.0, 2.0, 4.0, 35.0),
        deal_factor=1.2,
        pre_touches=0.4,
        lookback_days=10.0,
        tracks=("Partner Program",),
        campaign_days=365,
        touch_kind="referral_visit",
        creation_kind="partner_referral",
    ),
    ChannelProfile(
        name="outbound",
        share=0.11,
        cost_per_lead=160.0,
        rates=(0.14, 0.46, 0.74, 0.29),
        lag_days=(5.0, 4.0, 8.0, 65.0),
        deal_factor=1.1,
        pre_touches=0.6,
        lookback_days=14.0,
        tracks=("SDR Sequence", "ABM"),
        campaign_days=60,
        touch_kind="sales_email_reply",
        creation_kind="meeting_booked",
        trend=2.2,
    ),
)
# Channel mix of the touches before a lead is created (discovery) and after it (nurture), in CHANNELS order.
_PRE_MIX = (0.20, 0.25, 0.10, 0.05, 0.10, 0.25, 0.03, 0.02)
_POST_MIX = (0.05, 0.08, 0.45, 0.07, 0.20, 0.15, 0.0, 0.0)


@dataclass(frozen=True)
class Rep:
    """A sales rep: team, follow-up habits and how well they close."""

    name: str
    team: str
    followup_hours: float  # median delay from MQL to first follow-up (`_business_delay` makes it business time)
    ignore_share: float  # share of MQLs never followed up
    win_factor: float  # multiplies the opportunity->won rate
    cadence_hours: float  # median business hours between two attempts of the cadence
    short_share: float  # share of leads the rep stops chasing after two attempts, not three


# Ordered by team; a team serves the account segment with the same index.
REPS: tuple[Rep, ...] = (
    Rep("Ava Thompson", "SMB", 0.33, 0.02, 1.15, 6.0, 0.08),
    Rep("Noah Garcia", "SMB", 2.0, 0.04, 1.0, 6.0, 0.06),
    Rep("Mia Patel", "SMB", 8.0, 0.06, 0.95, 7.0, 0.08),
    Rep("Liam Brennan", "SMB", 30.0, 0.12, 0.8, 7.0, 0.45),
    Rep("Sofia Rossi", "Mid-Market", 0.8, 0.03, 1.2, 5.0, 0.05),
    Rep("Ethan Kim", "Mid-Market", 5.0, 0.05, 1.0, 6.0, 0.08),
    Rep("Chloe Martin", "Mid-Market", 20.0, 0.08, 0.85, 7.0, 0.1),
    Rep("Lucas Weber", "Enterprise", 1.5, 0.02, 1.3, 5.0, 0.04),
    Rep("Grace Okafor", "Enterprise", 4.0, 0.04, 1.05, 6.0, 0.06),
    Rep("Daniel Novak", "Enterprise", 48.0, 0.1, 0.75, 7.0, 0.1),
)
_TEAM_OF_SEGMENT = ("SMB", "Mid-Market", "Enterprise")

#: Share of handed-off leads first assigned to another rep of the team, and of long clocks that are paused.
REASSIGN_SHARE = 0.06
PAUSE_SHARE = 0.03
#: The reason codes reps reject a handed-off lead with (the demo contract's list), how often each is given, and two
#: notes a rep may write with each (a quarter of rejections come without a note).
REJECTION_REASONS = ("not_a_fit", "no_budget", "no_contact", "duplicate", "not_ready", "competitor")
_REASON_SHARE = (0.32, 0.16, 0.2, 0.04, 0.2, 0.08)
_REASON_NOTES = (
    ("Outside our ideal customer profile", "Too small for any of our plans"),
    ("No budget until next fiscal year", "Budget frozen after a reorganisation"),
    ("No answer after three calls and two emails", "Phone number and email bounce"),
    ("Already in the CRM under another lead", "Same person as an open lead"),
    ("Researching only, not ready to talk to sales", "Asked to be contacted next quarter"),
    ("Signed with a competitor last month", "Renewed with their current vendor"),
)
_RECYCLE_NOTES = ("Back to nurture: interested, but not this quarter", "Back to nurture: no project yet")
#: Of the handed-off leads that do not go on to the next stage: the share rejected (times the channel's factor,
#: in CHANNELS order: paid social's lead forms bring the most unqualified leads, referrals the fewest), and the
#: share recycled to nurture; the rest are accepted and lost later.
_REJECT_SHARE = 0.28
_CHANNEL_REJECTION = (1.0, 1.6, 0.9, 0.9, 0.9, 1.2, 0.5, 0.8)
_RECYCLE_SHARE = 0.2
_IGNORED_DECIDED = 0.15  # share of ignored leads that still get a (late) decision
_ROUTING = "lead routing"  # the actor of an assignment

SEGMENTS = ("smb", "mid-market", "enterprise")
_SEGMENT_SHARE = (0.62, 0.28, 0.10)  # of accounts
_SEGMENT_LEAD_WEIGHT = (1.0, 2.5, 6.0)  # bigger accounts bring more leads
_SEGMENT_EMPLOYEES = ((45.0, 5, 199), (600.0, 200, 1999), (6000.0, 2000, 200_000))  # median, min, max
_SEGMENT_DEAL = (7_000.0, 25_000.0, 90_000.0)  # median deal before the product multiplier
_SEGMENT_WIN = (1.1, 1.0, 0.8)
_SEGMENT_CYCLE = (0.6, 1.0, 1.9)  # multiplies the opportunity-and-later lags

PRODUCTS = ("Starter", "Growth", "Scale", "Enterprise")
_PRODUCT_PRICE = (0.6, 1.0, 1.5, 2.2)
_PRODUCT_MIX = ((0.6, 0.35, 0.05, 0.0), (0.1, 0.5, 0.35, 0.05), (0.0, 0.1, 0.4, 0.5))  # per segment
_OPEN_STAGES = ("Discovery", "Demo", "Proposal", "Negotiation")

INDUSTRIES = _words(
    "Software|Financial Services|Healthcare|Manufacturing|Retail|Education|Media|Logistics|"
    "Professional Services|Energy",
    "|",
)
_INDUSTRY_SHARE = (0.2, 0.12, 0.1, 0.12, 0.1, 0.06, 0.06, 0.08, 0.1, 0.06)
REGIONS = ("North America", "EMEA", "APAC", "LATAM")
_REGION_SHARE = (0.5, 0.3, 0.15, 0.05)
_COUNTRIES = (("US", "CA"), ("GB", "DE", "FR", "NL", "SE", "ES"), ("AU", "SG", "JP", "IN"), ("BR", "MX"))

_TITLES = _words(
    "Marketing Manager|VP Marketing|CMO|Sales Director|VP Sales|Head of Operations|Analyst|"
    "Engineer|CTO|CEO|Consultant|Student",
    "|",
)
_TITLE_SHARE = (0.16, 0.07, 0.03, 0.1, 0.06, 0.1, 0.15, 0.12, 0.04, 0.04, 0.08, 0.05)
_TITLE_QUALITY = (0.2, 0.6, 0.7, 0.3, 0.6, 0.3, -0.2, -0.3, 0.5, 0.5, -0.4, -1.2)

_FIRST = _words(
    "james mary robert patricia john jennifer michael linda david elizabeth william barbara "
    "richard susan joseph jessica thomas sarah carlos karen wei yuki priya arjun fatima omar "
    "lena jonas elena marco ines pablo sven anna kofi amara hiro mei lucas julia"
)
_LAST = _words(
    "smith johnson williams brown jones miller davis wilson anderson taylor moore jackson "
    "martin lee thompson white harris clark lewis walker mueller schmidt dubois rossi silva "
    "santos tanaka sato kumar singh chen wang kowalski novak jensen larsen okafor mensah haddad "
    "cohen"
)
_NAME_HEAD = _words(
    "North Blue Bright Silver Iron Red Clear Green Star Sun Swift True Prime Nova Peak Lake "
    "River Stone Oak Cedar Maple Pine Harbor Summit Golden Quantum Vertex Apex Atlas Orbit"
)
_NAME_TAIL = _words(
    "wind field bridge point gate line path stream forge works light wave rock view side ridge crest haven port dale"
)
_NAME_KIND = _words(
    "Analytics Systems Logistics Health Labs Foods Capital Energy Media Robotics Retail "
    "Partners Software Manufacturing Group Solutions"
)

# Company-wide lead volume: weekday (Monday first), calendar month, hour of day (UTC).
_WEEKDAY = (1.0, 1.1, 1.1, 1.0, 0.85, 0.3, 0.25)
_MONTH = (1.0, 1.0, 1.0, 1.0, 1.0, 0.95, 0.8, 0.7, 1.0, 1.0, 1.0, 0.85)
_HOUR = tuple(
    w
    for block in (
        (0.2, 0.15, 0.1, 0.1, 0.1, 0.15),
        (0.3, 0.6, 1.0, 1.3, 1.5, 1.5),
        (1.4, 1.6, 1.8, 1.9, 1.8, 1.5),
        (1.2, 0.9, 0.7, 0.5, 0.4, 0.3),
    )
    for w in block
)
_GROWTH = 1.8  # volume at the end of the history over volume at its start
_QUARTER_END_DAYS = 14  # the quarter-end push: more leads, looser definition
_QUARTER_END_VOLUME = 1.3
_QUARTER_END_QUALITY = 0.7
_LAG_SIGMA = (1.0, 0.8, 0.7, 0.6)  # lognormal sigma of the four default steps
_MAX_RATE = 0.97
_EPOCH = date(1970, 1, 1)


def cutoff(today: date) -> datetime:
    """The exclusive end of the demo history: `today` at 00:00 UTC (naive, as tandem stores timestamps)."""
    return datetime(today.year, today.month, today.day)


def generate_company(
    out_dir: Path,
    *,
    leads: int = 20_000,
    seed: int = 7,
    today: date | None = None,
    stages: Sequence[str] = DEFAULT_STAGES,
) -> dict[str, Path]:
    """Write one Parquet file per canonical table into out_dir; return {table_name: path}.

    The history covers the 730 days before `today` (default: the local date) and stops at `cutoff(today)`.
    The same `leads`, `seed`, `today` and `stages` give the same files. Bad arguments raise ConfigError.
    """
    if leads < 1:
        raise ConfigError(f"the demo company needs at least one lead, not {leads}")
    if seed < 0:
        raise ConfigError(f"the demo seed must be zero or positive, not {seed}")
    steps = _StageParams.make(stages)
    cal = _Calendar.make(today or date.today())
    accounts = _make_accounts(max(20, leads // 4), _rng(seed, "accounts"))
    camps = _make_campaigns(cal, _rng(seed, "campaigns"))
    people = _make_leads(leads, cal, accounts, camps, _rng(seed, "leads"))
    funnel = _progress(people, accounts, steps, _rng(seed, "funnel"))
    reached = np.where(funnel.times < cal.cutoff, funnel.times, NEVER)
    deals = _make_deals(people, accounts, funnel, steps, cal, _rng(seed, "deals"))
    money = _make_spend(people, camps, _rng(seed, "spend"))
    lead_ids = _ids("L-", leads)
    out_dir.mkdir(parents=True, exist_ok=True)
    write = _Writer(out_dir)  # one table at a time, so only one is in memory
    write("leads", _leads_table(lead_ids, people, accounts, camps))
    write("stage_events", _stage_events_table(lead_ids, people, reached, deals, steps, cal, _rng(seed, "flaws")))
    write("opportunities", _opportunities_table(lead_ids, people, accounts, deals))
    write(
        "touches",
        _touches_table(lead_ids, people, accounts, camps, reached, steps, cal, _rng(seed, "touches")),
    )
    write("campaigns", _campaigns_table(camps, money, cal))
    write("spend", _spend_table(money, camps, cal))
    sales = _plan_sales(people, funnel, reached, steps, cal, _rng(seed, "activities"))
    write("activities", _activities_table(lead_ids, people, sales))
    write("handoffs", _handoffs_table(lead_ids, people, sales, cal, _rng(seed, "handoffs")))
    write("accounts", _accounts_table(accounts))
    return write.paths


# --- building blocks ----------------------------------------------------------------------------------------


class _Writer:
    """Writes a table to <out_dir>/<name>.parquet and remembers the path."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.paths: dict[str, Path] = {}

    def __call__(self, name: str, table: Any) -> None:
        path = self.out_dir / f"{name}.parquet"
        pq.write_table(table, path)
        self.paths[name] = path


def _rng(seed: int, topic: str) -> np.random.Generator:
    """One independent stream per concept, so changing one part of the company leaves the others alone."""
    return np.random.default_rng([seed, zlib.crc32(topic.encode())])


def _ids(prefix: str, n: int) -> Any:
    """Zero-padded string ids in order: L-000001, L-000002... (vectorised: a million in milliseconds)."""
    digits = pc.utf8_lpad(
        pa.array(np.arange(1, n + 1, dtype=np.int64)).cast(pa.string()),
        width=max(6, len(str(n))),
        padding="0",
    )
    return pc.binary_join_element_wise(prefix, digits, "")


def _labels(values: Sequence[str], idx: I64, null: Mask | None = None) -> Any:
    """A string column from indices into a small list of values (null where `null` is set)."""
    return pa.array(list(values), type=pa.string()).take(pa.array(idx, mask=null))


def _ts(seconds: I64) -> Any:
    """Epoch seconds as naive UTC timestamp[us]."""
    return pa.array((seconds * 1_000_000).view("datetime64[us]"))


def _dates(epoch_days: I64) -> Any:
    """Epoch days as date32."""
    return pa.array(epoch_days.astype("datetime64[D]"))


def _pick(cum: F64, u: F64) -> I64:
    """Categorical draws, vectorised: row i of the cumulative probabilities `cum` picks with uniform u[i]."""
    out: I64 = np.minimum((u[:, None] > cum).sum(axis=1), cum.shape[1] - 1).astype(np.int64)
    return out


def _cumulative(weights: Sequence[Sequence[float]] | F64) -> F64:
    w = np.asarray(weights, dtype=np.float64)
    out: F64 = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    return out


def _lognormal_seconds(rng: np.random.Generator, median_days: F64, sigma: float) -> I64:
    """Durations with a long right tail, as stage lags have: at least a minute, at most 2.5 sigmas up."""
    z = np.minimum(rng.standard_normal(np.shape(median_days)), 2.5)
    out: I64 = np.maximum(median_days * DAY * np.exp(sigma * z), 60.0).astype(np.int64)
    return out


def _occurrence(keys: I64) -> I64:
    """0 for the first row with a key, 1 for the second... (to tell apart names that would collide)."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.r_[True, ordered[1:] != ordered[:-1]] if keys.size else np.zeros(0, dtype=bool)
    pos = np.arange(keys.size, dtype=np.int64)
    group_start = np.maximum.accumulate(np.where(starts, pos, 0)) if keys.size else pos
    rank = np.empty_like(pos)
    rank[order] = pos - group_start
    return rank


# --- calendar -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Calendar:
    """The history window in epoch seconds: [start, cutoff); cutoff is `today` 00:00 UTC."""

    start: int
    cutoff: int

    @classmethod
    def make(cls, today: date) -> _Calendar:
        end = int(datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp())
        return cls(end - HISTORY_DAYS * DAY, end)

    @property
    def first_day(self) -> int:
        return self.start // DAY

    @property
    def days(self) -> I64:
        return np.arange(HISTORY_DAYS, dtype=np.int64) + self.first_day


@dataclass(frozen=True)
class _DayParts:
    """Calendar facts about epoch days, for seasonality and quarter ends."""

    weekday: I64  # 0 = Monday
    month: I64  # 0 = January
    day_of_month: I64  # 1-based
    quarter_start: I64  # epoch day
    days_to_quarter_end: I64  # 1 on a quarter's last day

    @classmethod
    def of(cls, epoch_days: I64) -> _DayParts:
        months = epoch_days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        month_start = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        q = months - months % 3
        q_start = q.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        q_next = (q + 3).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        return cls((epoch_days + 3) % 7, months % 12, epoch_days - month_start + 1, q_start, q_next - epoch_days)


def _volume_by_day(cal: _Calendar) -> F64:
    """Lead volume per day and channel (days x channels): growth, weekdays, summer, holidays, quarter ends."""
    parts = _DayParts.of(cal.days)
    t = np.arange(HISTORY_DAYS) / (HISTORY_DAYS - 1)
    holidays = ((parts.month == 11) & (parts.day_of_month >= 22)) | ((parts.month == 0) & (parts.day_of_month <= 2))
    company = (
        _GROWTH**t
        * np.asarray(_WEEKDAY)[parts.weekday]
        * np.asarray(_MONTH)[parts.month]
        * np.where(holidays, 0.5, 1.0)
        * np.where(parts.days_to_quarter_end <= _QUARTER_END_DAYS, _QUARTER_END_VOLUME, 1.0)
    )
    season = np.asarray([c.season for c in CHANNELS])[:, parts.month].T  # days x channels
    trend = np.asarray([c.trend for c in CHANNELS])[None, :] ** t[:, None]
    share = np.asarray([c.share for c in CHANNELS])[None, :]
    out: F64 = company[:, None] * season * trend * share
    return out


# --- accounts -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Accounts:
    segment: I64
    industry: I64
    employees: I64
    region: I64
    country: I64  # index into the flattened _COUNTRIES
    lead_weight: F64
    name: Any  # pyarrow string array
    domain: Any


def _make_accounts(n: int, rng: np.random.Generator) -> _Accounts:
    """Companies leads belong to; the segment drives size, lead volume, deal size and sales cycle."""
    segment = rng.choice(3, size=n, p=_SEGMENT_SHARE).astype(np.int64)
    spec = np.asarray(_SEGMENT_EMPLOYEES)
    employees = np.clip(rng.lognormal(np.log(spec[segment, 0]), 0.8), spec[segment, 1], spec[segment, 2])
    region = rng.choice(4, size=n, p=_REGION_SHARE).astype(np.int64)
    counts = np.asarray([len(c) for c in _COUNTRIES])
    offsets = np.r_[0, np.cumsum(counts)[:-1]]
    country = offsets[region] + (rng.random(n) * counts[region]).astype(np.int64)
    head = rng.integers(0, len(_NAME_HEAD), n)
    tail = rng.integers(0, len(_NAME_TAIL), n)
    kind = rng.integers(0, len(_NAME_KIND), n)
    stem = pc.binary_join_element_wise(_labels(_NAME_HEAD, head), _labels(_NAME_TAIL, tail), "")
    kind_s = _labels(_NAME_KIND, kind)
    # Names repeat, as in any CRM; web domains do not, so emails stay unique unless deliberately duplicated.
    rank = _occurrence((head * len(_NAME_TAIL) + tail) * len(_NAME_KIND) + kind)
    suffix = pc.if_else(
        pa.array(rank > 0), pc.binary_join_element_wise("-", pa.array(rank + 1).cast(pa.string()), ""), ""
    )
    domain = pc.binary_join_element_wise(pc.utf8_lower(stem), "-", pc.utf8_lower(kind_s), suffix, ".example", "")
    return _Accounts(
        segment=segment,
        industry=rng.choice(len(INDUSTRIES), size=n, p=_INDUSTRY_SHARE).astype(np.int64),
        employees=np.rint(employees).astype(np.int64),
        region=region,
        country=country,
        lead_weight=np.asarray(_SEGMENT_LEAD_WEIGHT)[segment] * rng.lognormal(0.0, 0.8, n),
        name=pc.binary_join_element_wise(stem, kind_s, " "),
        domain=domain,
    )


# --- campaigns ----------------------------------------------------------------------------------------------

_KEY = 4096  # campaign lookup key: group * _KEY + day + _OFFSET (days fit well inside)
_OFFSET = 1024


@dataclass(frozen=True)
class _Campaigns:
    """Campaigns in programmes ("tracks"); a track is a chain of back-to-back campaigns over the history."""

    channel: I64
    start: I64  # day index from the history start (negative: started before it)
    end: I64  # inclusive day index; may be after the history (a running campaign)
    names: list[str]
    keys: I64  # sorted lookup keys, see _campaign_at
    first_group: I64  # per channel: its first track's group number
    group_count: I64  # per channel: number of tracks

    @property
    def count(self) -> int:
        return int(self.channel.size)


def _make_campaigns(cal: _Calendar, rng: np.random.Generator) -> _Campaigns:
    """A few hundred campaigns: every channel runs its tracks back to back over the two years."""
    channel: list[int] = []
    group: list[int] = []
    start: list[int] = []
    end: list[int] = []
    names: list[str] = []
    first_group: list[int] = []
    g = 0
    for c, prof in enumerate(CHANNELS):
        first_group.append(g)
        label = prof.name.replace("_", " ").title()
        for track in prof.tracks:
            day = -int(rng.integers(0, prof.campaign_days // 2 + 1))
            while day < HISTORY_DAYS:
                length = max(3, round(prof.campaign_days * rng.uniform(0.7, 1.3)))
                first = _EPOCH + timedelta(days=cal.first_day + day)
                channel.append(c)
                group.append(g)
                start.append(day)
                end.append(day + length - 1)
                names.append(f"{label} | {track} | {first:%Y-%m-%d}")
                day += length
            g += 1
    groups = np.asarray(group, dtype=np.int64)
    starts = np.asarray(start, dtype=np.int64)
    return _Campaigns(
        channel=np.asarray(channel, dtype=np.int64),
        start=starts,
        end=np.asarray(end, dtype=np.int64),
        names=names,
        keys=groups * _KEY + starts + _OFFSET,
        first_group=np.asarray(first_group, dtype=np.int64),
        group_count=np.asarray([len(p.tracks) for p in CHANNELS], dtype=np.int64),
    )


def _campaign_at(camps: _Campaigns, channel: I64, day: I64, u: F64) -> I64:
    """The campaign of a touch on `day` in `channel`: a random track of the channel, its live campaign."""
    group = camps.first_group[channel] + (u * camps.group_count[channel]).astype(np.int64)
    key = group * _KEY + np.clip(day, 0, HISTORY_DAYS - 1) + _OFFSET
    out: I64 = np.searchsorted(camps.keys, key, side="right").astype(np.int64) - 1
    return out


# --- leads --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Leads:
    created: I64  # epoch seconds, ascending
    day: I64  # day index in the history
    channel: I64  # the true channel (the leads file hides some: channel_missing)
    channel_missing: Mask
    campaign: I64
    account: I64
    duplicate_of: I64  # index of the earlier lead with the same email, -1 if none
    first_name: I64
    last_name: I64
    title: I64
    rep: I64
    quality: F64  # latent lead quality, ~N(0, 1) plus the job title's effect
    score: F64
    quarter_end: Mask  # created in a quarter's last two weeks

    @property
    def count(self) -> int:
        return int(self.created.size)


def _make_leads(n: int, cal: _Calendar, accounts: _Accounts, camps: _Campaigns, rng: np.random.Generator) -> _Leads:
    """Who the leads are and where they came from: arrival time, channel, campaign, account, person, owner."""
    created, day, channel = _arrivals(n, cal, rng)
    account = rng.choice(accounts.segment.size, size=n, p=accounts.lead_weight / accounts.lead_weight.sum())
    first_name = rng.integers(0, len(_FIRST), n)
    last_name = rng.integers(0, len(_LAST), n)
    title = rng.choice(len(_TITLES), size=n, p=_TITLE_SHARE).astype(np.int64)
    duplicate_of = _duplicates(n, rng)
    dup = duplicate_of >= 0
    for col in (account, first_name, last_name, title):
        col[dup] = col[duplicate_of[dup]]  # the same person again: same account, name and title
    quality = rng.standard_normal(n) + np.asarray(_TITLE_QUALITY)[title]
    segment = accounts.segment[account]
    team_size = np.bincount([_TEAM_OF_SEGMENT.index(r.team) for r in REPS], minlength=3)
    team_first = np.r_[0, np.cumsum(team_size)[:-1]]
    return _Leads(
        created=created,
        day=day,
        channel=channel,
        channel_missing=_at_least_one(rng.random(n) < MISSING_CHANNEL_SHARE),
        campaign=_campaign_at(camps, channel, day, rng.random(n)),
        account=account.astype(np.int64),
        duplicate_of=duplicate_of,
        first_name=first_name.astype(np.int64),
        last_name=last_name.astype(np.int64),
        title=title,
        rep=team_first[segment] + (rng.random(n) * team_size[segment]).astype(np.int64),
        quality=quality,
        score=np.round(np.clip(50.0 + 15.0 * quality + rng.normal(0.0, 10.0, n), 0.0, 100.0), 1),
        quarter_end=_DayParts.of(day + cal.first_day).days_to_quarter_end <= _QUARTER_END_DAYS,
    )


def _arrivals(n: int, cal: _Calendar, rng: np.random.Generator) -> tuple[I64, I64, I64]:
    """Creation times (sorted) and channels, following the seasonal volume of each channel."""
    volume = _volume_by_day(cal)
    per_day = volume.sum(axis=1)
    day = rng.choice(HISTORY_DAYS, size=n, p=per_day / per_day.sum()).astype(np.int64)
    hour = rng.choice(24, size=n, p=np.asarray(_HOUR) / sum(_HOUR))
    second = hour * HOUR + rng.integers(0, HOUR, n)
    order = np.lexsort((second, day))
    day, second = day[order], second[order]
    channel = _pick(np.cumsum(volume / per_day[:, None], axis=1)[day], rng.random(n))
    return cal.start + day * DAY + second, day, channel


def _at_least_one(flaw: Mask) -> Mask:
    """The flaw on at least one row (the last) when there are two rows or more: a tiny demo shows it too."""
    if flaw.size >= 2 and not flaw.any():
        flaw[-1] = True
    return flaw


def _duplicates(n: int, rng: np.random.Generator) -> I64:
    """Leads that repeat an earlier lead (same email): index of the original, -1 otherwise; no chains."""
    source = (rng.random(n) * np.arange(n)).astype(np.int64)
    wanted = rng.random(n) < DUPLICATE_EMAIL_SHARE
    wanted[0] = False
    dup = wanted & ~wanted[source]
    if n >= 2 and not dup.any():  # at least one, so even a tiny demo has the flaw
        dup[-1], source[-1] = True, 0
    return np.where(dup, source, -1)


# --- funnel progression -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _StageParams:
    """Stage names and, per channel, the rate and median lag of each step, for default or custom stages."""

    names: tuple[str, ...]
    rates: F64  # channels x steps
    lag_days: F64  # channels x steps
    lag_sigma: F64  # steps
    handoff: int  # the stage reps follow up (mql by default)
    opportunity: int  # the stage that opens an opportunity

    @property
    def count(self) -> int:
        return len(self.names)

    @classmethod
    def make(cls, stages: Sequence[str]) -> _StageParams:
        names = tuple(stages)
        if len(names) < 2 or len(set(names)) != len(names):
            raise ConfigError(f"the demo needs at least two distinct stages, got {list(names)}")
        k = len(names)
        opp = names.index("opportunity") if "opportunity" in names[:-1] else max(k - 2, 0)
        return cls(
            names=names,
            rates=_resample(np.asarray([c.rates for c in CHANNELS]), k - 1),
            lag_days=_resample(np.asarray([c.lag_days for c in CHANNELS]), k - 1),
            lag_sigma=_resample(np.asarray([_LAG_SIGMA]), k - 1)[0],
            handoff=1 if k >= 3 else 0,
            opportunity=opp,
        )


def _resample(table: F64, steps: int) -> F64:
    """Per-step values for a funnel of `steps` steps, interpolated from the four default steps."""
    if steps == table.shape[1]:
        return table
    pos = np.linspace(0.0, table.shape[1] - 1.0, steps) if steps > 1 else np.zeros(1)
    grid = np.arange(table.shape[1], dtype=np.float64)
    return np.stack([np.interp(pos, grid, row) for row in table])


@dataclass(frozen=True)
class _Funnel:
    times: I64  # leads x stages: first entry in epoch seconds, NEVER if never reached (ignores the cut-off)
    followup_delay: I64  # seconds from the handoff stage to the rep's first follow-up
    ignored: Mask  # the rep never follows the lead up


def _progress(leads: _Leads, accounts: _Accounts, steps: _StageParams, rng: np.random.Generator) -> _Funnel:
    """Walk every lead down the funnel at once: one vectorised draw per step (convert? when?)."""
    n, k = leads.count, steps.count
    delay = _lognormal_seconds(rng, np.asarray([r.followup_hours / 24 for r in REPS])[leads.rep], 1.1)
    ignored = rng.random(n) < np.asarray([r.ignore_share for r in REPS])[leads.rep]
    segment = accounts.segment[leads.account]
    times = np.full((n, k), NEVER, dtype=np.int64)
    times[:, 0] = leads.created
    reached = np.ones(n, dtype=bool)
    for t in range(k - 1):
        rate = steps.rates[leads.channel, t] * _rate_factor(t, steps, leads, segment, delay, ignored)
        advance = reached & (rng.random(n) < np.minimum(rate, _MAX_RATE))
        base = np.where(advance, times[:, t], 0)
        lag_days = steps.lag_days[leads.channel, t]
        if t >= steps.opportunity:
            lag_days = lag_days * np.asarray(_SEGMENT_CYCLE)[segment]
        if t == steps.handoff:  # the clock restarts at the first follow-up; an ignored lead qualifies slowly
            base = base + np.where(ignored, 0, delay)
            lag_days = np.where(ignored, 2.5 * lag_days, lag_days)
        arrive = base + _lognormal_seconds(rng, lag_days, float(steps.lag_sigma[t]))
        if t == k - 2:
            arrive = _pull_into_quarter(arrive, times[:, t], rng)
        times[:, t + 1] = np.where(advance, arrive, NEVER)
        reached = advance
    return _Funnel(times, delay, ignored)


def _rate_factor(t: int, steps: _StageParams, leads: _Leads, segment: I64, delay: I64, ignored: Mask) -> F64:
    """What moves a lead's odds at step t: quality, the quarter-end push, follow-up speed, rep, segment."""
    factor = np.ones(leads.count)
    if t == 0:
        factor *= np.exp(0.6 * leads.quality - 0.18) * np.where(leads.quarter_end, _QUARTER_END_QUALITY, 1.0)
    if t == steps.handoff:
        speed = np.asarray((1.35, 1.15, 1.0, 0.8, 0.6))[np.searchsorted(np.asarray((1, 4, 24, 72)) * HOUR, delay)]
        factor *= np.where(ignored, 0.35, speed)
    if t == steps.count - 2:
        factor *= np.asarray([r.win_factor for r in REPS])[leads.rep] * np.asarray(_SEGMENT_WIN)[segment]
    return factor


def _pull_into_quarter(won: I64, previous: I64, rng: np.random.Generator) -> I64:
    """Sales pulls deals into quarter end: 40 % of wins in a quarter's first 12 days move before it."""
    day = won // DAY
    parts = _DayParts.of(day)
    pulled = (parts.quarter_start - rng.integers(1, 5, won.size)) * DAY + won % DAY
    move = (day - parts.quarter_start < 12) & (rng.random(won.size) < 0.4) & (pulled > previous + DAY)
    return np.where(move, pulled, won)


# --- opportunities ------------------------------------------------------------------------------------------

_OPEN, _WON, _LOST = 0, 1, 2


@dataclass(frozen=True)
class _Deals:
    lead: I64  # lead index, ordered by opportunity creation
    created: I64
    status: I64  # _OPEN, _WON, _LOST
    amount: F64  # what the opportunity was opened at
    final_amount: F64  # what it was won at (after discount); amount if not won
    close_day: I64  # epoch day: won/lost date, or the expected close date of an open deal
    stage: I64  # index into _OPEN_STAGES, or len for Closed Won, +1 for Closed Lost
    product: I64


def _make_deals(
    leads: _Leads,
    accounts: _Accounts,
    funnel: _Funnel,
    steps: _StageParams,
    cal: _Calendar,
    rng: np.random.Generator,
) -> _Deals:
    """One opportunity per lead that reached the opportunity stage: won, lost after its cycle, or open."""
    opp_time = funnel.times[:, steps.opportunity]
    lead = np.flatnonzero(opp_time < cal.cutoff)
    lead = lead[np.lexsort((lead, opp_time[lead]))]
    created = opp_time[lead]
    won_time = funnel.times[lead, -1]
    segment = accounts.segment[leads.account[lead]]
    channel = leads.channel[lead]
    cycle_days = steps.lag_days[channel, steps.opportunity :].sum(axis=1) * np.asarray(_SEGMENT_CYCLE)[segment]
    # A deal that will not be won is lost after about its cycle; one open for three cycles is stale: lost.
    lost_time = created + np.minimum(_lognormal_seconds(rng, 0.9 * cycle_days, 0.8), 3 * cycle_days * DAY)
    won = won_time < cal.cutoff
    lost = (won_time == NEVER) & (lost_time < cal.cutoff)
    status = np.select([won, lost], [_WON, _LOST], _OPEN).astype(np.int64)
    product, amount = _deal_sizes(segment, channel, rng)
    final = np.where(won, np.maximum(500.0, np.round(amount * rng.uniform(0.85, 1.0, lead.size), -2)), amount)
    # Open deals carry an expected close date; an overdue one has been pushed out by its rep.
    expected = np.maximum(
        created // DAY + np.rint(cycle_days).astype(np.int64),
        cal.cutoff // DAY + rng.integers(3, 60, lead.size),
    )
    close_day = np.select([won, lost], [won_time // DAY, lost_time // DAY], expected).astype(np.int64)
    open_stage = np.searchsorted(np.asarray((0.25, 0.5, 0.8)), (cal.cutoff - created) / (cycle_days * DAY))
    stage = np.select([won, lost], [len(_OPEN_STAGES), len(_OPEN_STAGES) + 1], open_stage).astype(np.int64)
    return _Deals(lead, created, status, amount, final, close_day, stage, product)


def _deal_sizes(segment: I64, channel: I64, rng: np.random.Generator) -> tuple[I64, F64]:
    """Product and amount: bigger segments buy bigger plans; some channels bring bigger deals."""
    product = _pick(_cumulative(_PRODUCT_MIX)[segment], rng.random(segment.size))
    size = (
        np.asarray(_SEGMENT_DEAL)[segment]
        * np.asarray(_PRODUCT_PRICE)[product]
        * np.asarray([c.deal_factor for c in CHANNELS])[channel]
        * rng.lognormal(0.0, 0.45, segment.size)
    )
    amount: F64 = np.maximum(500.0, np.round(size, -2))
    return product, amount


# --- tables -------------------------------------------------------------------------------------------------


def _leads_table(lead_ids: Any, leads: _Leads, accounts: _Accounts, camps: _Campaigns) -> Any:
    """The leads file: canonical columns, then segment, job_title and team as attributes."""
    segment = accounts.segment[leads.account]
    missing = leads.channel_missing
    country_codes = [c for region in _COUNTRIES for c in region]
    return pa.table(
        {
            "lead_id": lead_ids,
            "created_at": _ts(leads.created),
            "channel": _labels([c.name for c in CHANNELS], leads.channel, missing),
            "campaign_id": _ids("CMP-", camps.count).take(pa.array(leads.campaign, mask=missing)),
            "account_id": _ids("ACC-", accounts.segment.size).take(pa.array(leads.account)),
            "owner": _labels([r.name for r in REPS], leads.rep),
            "email": _emails(leads, accounts),
            "company": accounts.name.take(pa.array(leads.account)),
            "country": _labels(country_codes, accounts.country[leads.account]),
            "industry": _labels(INDUSTRIES, accounts.industry[leads.account]),
            "employees": pa.array(accounts.employees[leads.account], type=pa.int64()),
            "score": pa.array(leads.score, type=pa.float64()),
            "segment": _labels(SEGMENTS, segment),
            "job_title": _labels(_TITLES, leads.title),
            "team": _labels([r.team for r in REPS], leads.rep),
        }
    )


def _emails(leads: _Leads, accounts: _Accounts) -> Any:
    """first.last@account-domain; namesakes in one account get a number; duplicates copy their original."""
    n = leads.count
    dup = leads.duplicate_of >= 0
    key = (leads.account * len(_FIRST) + leads.first_name) * len(_LAST) + leads.last_name
    rank = np.zeros(n, dtype=np.int64)
    rank[~dup] = _occurrence(key[~dup])
    number = pc.if_else(pa.array(rank > 0), pa.array(rank + 1).cast(pa.string()), "")
    email = pc.binary_join_element_wise(
        _labels(_FIRST, leads.first_name),
        ".",
        _labels(_LAST, leads.last_name),
        number,
        "@",
        accounts.domain.take(pa.array(leads.account)),
        "",
    )
    return email.take(pa.array(np.where(dup, leads.duplicate_of, np.arange(n))))


def _stage_events_table(
    lead_ids: Any,
    leads: _Leads,
    reached: I64,
    deals: _Deals,
    steps: _StageParams,
    cal: _Calendar,
    rng: np.random.Generator,
) -> Any:
    """Every stage each lead reached before the cut-off, with the documented flaws; amounts on deal stages."""
    times, extra_lead, extra_time = _stage_flaws(reached, leads, steps, cal, rng)
    base_lead, base_stage = np.nonzero(times < NEVER)
    lead_idx = np.r_[base_lead, extra_lead].astype(np.int64)
    stage = np.r_[base_stage, np.ones(extra_lead.size, dtype=np.int64)].astype(np.int64)  # re-entries
    occurred = np.r_[times[base_lead, base_stage], extra_time].astype(np.int64)
    order = np.lexsort((stage, lead_idx, occurred))
    lead_idx, stage, occurred = lead_idx[order], stage[order], occurred[order]
    amount_of = np.full(leads.count, np.nan)
    final_of = np.full(leads.count, np.nan)
    amount_of[deals.lead] = deals.amount
    final_of[deals.lead] = deals.final_amount
    amount = np.where(
        stage == steps.count - 1,
        final_of[lead_idx],
        np.where(stage >= steps.opportunity, amount_of[lead_idx], np.nan),
    )
    source = np.where(stage <= steps.handoff, 0, 1)
    return pa.table(
        {
            "lead_id": lead_ids.take(pa.array(lead_idx)),
            "stage": _labels(steps.names, stage),
            "occurred_at": _ts(occurred),
            "amount": pa.array(amount, type=pa.float64(), from_pandas=True),
            "source": _labels(("marketing_automation", "crm"), source),
        }
    )


def _stage_flaws(
    reached: I64, leads: _Leads, steps: _StageParams, cal: _Calendar, rng: np.random.Generator
) -> tuple[I64, I64, I64]:
    """Apply the stage-event flaws of the module docstring; return the times and re-entry events to add."""
    times = reached.copy()
    band = _flaw_bands(reached, rng)
    if steps.count >= 3:
        swap = band == 0
        times[swap, 1], times[swap, 2] = times[swap, 2], times[swap, 1]
        times[band == 1, _skipped_stage(steps.count)] = NEVER
    early = band == 2
    times[early, 1] = leads.created[early] - _lognormal_seconds(rng, np.full(int(early.sum()), 1.5), 1.0)
    again = np.flatnonzero(band == 3)
    later = times[again, 1] + _lognormal_seconds(rng, np.full(again.size, 40.0), 0.6) + DAY
    keep = later < cal.cutoff
    return times, again[keep].astype(np.int64), later[keep].astype(np.int64)


def _skipped_stage(k: int) -> int:
    """The stage the "skipped" flaw leaves out: sql by default (the third stage; the second with three)."""
    return 2 if k >= 4 else 1


def _flaw_bands(reached: I64, rng: np.random.Generator) -> I64:
    """Each lead's stage flaw: 0 out of order, 1 skipped, 2 before created, 3 re-entered, 4+ none.

    A flaw goes only to leads it can apply to, and each shows up at least once when any lead can have it, so
    even a tiny demo shows every kind of problem.
    """
    n, k = int(reached.shape[0]), int(reached.shape[1])
    band: I64 = (rng.random(n) / FLAW_SHARE).astype(np.int64)
    handed_off = reached[:, 1] < NEVER
    none = np.zeros(n, dtype=bool)
    eligible = (
        reached[:, 2] < NEVER if k >= 3 else none,
        reached[:, _skipped_stage(k) + 1] < NEVER if k >= 3 else none,
        handed_off,
        handed_off,
    )
    for flaw, can in enumerate(eligible):
        band[(band == flaw) & ~can] = len(eligible)
        free = np.flatnonzero(can & (band >= len(eligible)))
        if not (band == flaw).any() and free.size:
            band[free[0]] = flaw
    return band


def _opportunities_table(lead_ids: Any, leads: _Leads, accounts: _Accounts, deals: _Deals) -> Any:
    status_names = ("open", "won", "lost")
    stage_names = (*_OPEN_STAGES, "Closed Won", "Closed Lost")
    return pa.table(
        {
            "opportunity_id": _ids("OPP-", deals.lead.size),
            "created_at": _ts(deals.created),
            "status": _labels(status_names, deals.status),
            "lead_id": lead_ids.take(pa.array(deals.lead)),
            "account_id": _ids("ACC-", accounts.segment.size).take(pa.array(leads.account[deals.lead])),
            "amount": pa.array(deals.final_amount, type=pa.float64()),
            "stage": _labels(stage_names, deals.stage),
            "close_date": _dates(deals.close_day),
            "owner": _labels([r.name for r in REPS], leads.rep[deals.lead]),
            "product": _labels(PRODUCTS, deals.product),
        }
    )


def _touches_table(
    lead_ids: Any,
    leads: _Leads,
    accounts: _Accounts,
    camps: _Campaigns,
    reached: I64,
    steps: _StageParams,
    cal: _Calendar,
    rng: np.random.Generator,
) -> Any:
    """Multi-touch journeys: discovery touches before creation, the creating touch, nurture after it."""
    n = leads.count
    lead_all = np.arange(n, dtype=np.int64)
    pre_mean = np.asarray([c.pre_touches for c in CHANNELS])[leads.channel]
    n_pre = np.minimum(rng.poisson(pre_mean), 4)
    engaged = reached[:, 1] < NEVER
    n_post = np.minimum(rng.poisson(0.6 + 0.9 * engaged), 7 - n_pre)
    pre_lead = np.repeat(lead_all, n_pre)
    pre_time = _before_creation(leads, pre_lead, cal, rng)
    post_lead = np.repeat(lead_all, n_post)
    post_time = _after_creation(leads, reached[:, steps.opportunity], post_lead, cal, rng)
    lead = np.r_[pre_lead, lead_all, post_lead]
    occurred = np.r_[pre_time, leads.created - rng.integers(0, 300, n), post_time]
    channel = np.r_[
        _pick(_cumulative([_PRE_MIX]), rng.random(pre_lead.size)),
        leads.channel,
        _pick(_cumulative([_POST_MIX]), rng.random(post_lead.size)),
    ]
    campaign = _campaign_at(camps, channel, (occurred - cal.start) // DAY, rng.random(lead.size))
    campaign[pre_lead.size : pre_lead.size + n] = leads.campaign
    creating = np.zeros(lead.size, dtype=bool)
    creating[pre_lead.size : pre_lead.size + n] = True
    order = np.lexsort((lead, occurred))
    lead, occurred, channel, campaign, creating = (a[order] for a in (lead, occurred, channel, campaign, creating))
    kind = np.where(creating, channel + len(CHANNELS), channel)
    kinds = [c.touch_kind for c in CHANNELS] + [c.creation_kind for c in CHANNELS]
    return pa.table(
        {
            "touch_id": _ids("T-", lead.size),
            "occurred_at": _ts(occurred),
            "channel": _labels([c.name for c in CHANNELS], channel),
            "lead_id": lead_ids.take(pa.array(lead)),
            "account_id": _ids("ACC-", accounts.segment.size).take(pa.array(leads.account[lead])),
            "campaign_id": _ids("CMP-", camps.count).take(pa.array(campaign)),
            "kind": _labels(kinds, kind),
        }
    )


def _before_creation(leads: _Leads, lead: I64, cal: _Calendar, rng: np.random.Generator) -> I64:
    """Discovery touches days or weeks before creation, kept inside the history."""
    created = leads.created[lead]
    lookback = np.asarray([c.lookback_days for c in CHANNELS])[leads.channel[lead]]
    when = created - _lognormal_seconds(rng, lookback, 1.0)
    fallback = created - (rng.random(lead.size) * (created - cal.start)).astype(np.int64)
    return np.where(when >= cal.start, when, fallback)


def _after_creation(leads: _Leads, opportunity: I64, lead: I64, cal: _Calendar, rng: np.random.Generator) -> I64:
    """Nurture touches between creation and the opportunity (or 120 days, or the cut-off)."""
    created = leads.created[lead]
    end = np.minimum(np.minimum(opportunity[lead], created + 120 * DAY), cal.cutoff)
    span = np.maximum(end - created, 1)
    out: I64 = created + (rng.random(lead.size) * span).astype(np.int64)
    return out


#: The demo company's service-level contract at the handoff (docs/sla.md), added to a new demo workspace's first
#: definitions: its teams and reps are `REPS`, its reason codes `REJECTION_REASONS`, and
#: the package lists lead columns the demo fills (campaign_id is missing on the leads without a channel). Here, not in
#: `tandem.demo_workspace`, because the generator's reps work these teams' hours.
DEMO_SERVICE_LEVELS = """\
service_levels:
  stage: mql
  teams:
    - team: SMB
      members: [Ava Thompson, Noah Garcia, Mia Patel, Liam Brennan]
      time_zone: America/New_York
      hours: {mon-fri: ["09:00-12:00", "13:00-17:30"]}
      holidays: US
    - team: Mid-Market
      members: [Sofia Rossi, Ethan Kim, Chloe Martin]
      time_zone: America/Chicago
      hours: {mon-fri: ["08:30-12:00", "13:00-17:00"]}
      holidays: US
    - team: Enterprise
      members: [Lucas Weber, Grace Okafor, Daniel Novak]
      time_zone: Europe/London
      hours: {mon-fri: "09:00-17:30"}
      holidays: {country: GB, subdivision: ENG}
  priorities:
    - name: hot
      when: score >= 80
      accept: 5m
      first_touch: 1h
    - name: standard
      accept: 24 business hours
      first_touch: 24 business hours
  attempts: {count: 3, within: 5 business days}
  pause_statuses: [waiting_on_customer]
  package: [company, industry, campaign_id]
  rejection:
    reasons: [not_a_fit, no_budget, no_contact, duplicate, not_ready, competitor]
    ceiling_percent: 25
"""


# --- sales at the handoff: business hours, decisions, the cadence of attempts -------------------------------

#: A lead scoring this much or more is the demo contract's "hot" priority (score >= 80): reached sooner.
_HOT_SCORE = 80.0
_HOT_PACE = 0.15
#: A follow-up delay longer than this is compressed into business time (its square root, in hours): a rep who takes
#: two days of the clock takes about seven business hours, not two days of them.
_COMPRESS_AFTER_HOURS = 1.0
#: Business hours between the handoff and a late decision on a lead the rep ignored, a recycle or a no-contact
#: rejection after the first touch, and a pause on the customer (medians; a working day is about 8 hours).
_IGNORED_DECISION_HOURS = 24.0
_SLOW_DECISION_HOURS = 6.0
_PAUSE_HOURS = 4.0
_REASSIGN_HOURS = 1.5
_SHIFT = 1 << 42  # seconds between two teams' intervals on one search axis (more than any demo spans)
_HORIZON_DAYS = 120  # business intervals run this long after the cut-off: later moments are NEVER


@dataclass(frozen=True)
class _WorkingHours:
    """The demo contract's team calendars as business intervals in epoch seconds: business time with numpy.

    Team k's intervals sit k * _SHIFT further on one sorted search axis, so B(t) (business seconds before t) and
    its inverse are one searchsorted each for a million leads at once. The intervals come from the product's own
    calendar (`tandem.sla.calendar.business_intervals`): time zones, lunch breaks, holidays and DST as the clocks
    count them.
    """

    start: I64
    end: I64
    cumulative: I64  # business seconds before the interval, from its team's first
    key_start: I64  # start + team * _SHIFT
    key_reach: I64  # cumulative + length + team * _SHIFT: B at the interval's end, on the search axis
    total: I64  # per team: business seconds of all its intervals
    last: int  # the end of the horizon

    @classmethod
    def make(cls, cal: _Calendar) -> _WorkingHours:
        from tandem.sla.calendar import business_intervals

        first = _EPOCH + timedelta(days=cal.first_day - 2)
        last = _EPOCH + timedelta(days=cal.cutoff // DAY + _HORIZON_DAYS)
        epoch = datetime(1970, 1, 1)
        parts = []
        for team, calendar in enumerate(_demo_calendars()):
            intervals = business_intervals(calendar, first, last)
            bounds = np.asarray(
                [
                    ((i.start - epoch) // timedelta(seconds=1), (i.end - epoch) // timedelta(seconds=1))
                    for i in intervals
                ],
                dtype=np.int64,
            ).reshape(-1, 2)
            length = bounds[:, 1] - bounds[:, 0]
            cumulative = np.cumsum(length) - length
            parts.append((bounds[:, 0], bounds[:, 1], cumulative, np.full(length.size, team, dtype=np.int64)))
        start, end, cumulative, team_of = (np.concatenate([p[k] for p in parts]) for k in range(4))
        return cls(
            start=start,
            end=end,
            cumulative=cumulative,
            key_start=start + team_of * _SHIFT,
            key_reach=cumulative + (end - start) + team_of * _SHIFT,
            total=np.asarray([int((p[1] - p[0]).sum()) for p in parts], dtype=np.int64),
            last=int((datetime.combine(last, datetime.min.time()) - epoch) // timedelta(seconds=1)),
        )

    def clock(self, team: I64, t: I64) -> I64:
        """B(t): the business seconds of each lead's team before instant t (constant outside working hours)."""
        at = np.minimum(t, self.last)
        i = np.maximum(np.searchsorted(self.key_start, at + team * _SHIFT, side="right") - 1, 0)
        out: I64 = self.cumulative[i] + np.clip(np.minimum(at, self.end[i]) - self.start[i], 0, None)
        return out

    def moment(self, team: I64, business: I64) -> I64:
        """B's inverse: the first instant the team's calendar has run `business` seconds (NEVER past the horizon).
        Past the B of any instant by at least a second, it lies inside a working window (or at its end)."""
        beyond = business > self.total[team]
        x = np.minimum(business, self.total[team])
        i = np.minimum(np.searchsorted(self.key_reach, x + team * _SHIFT, side="left"), self.start.size - 1)
        return np.where(beyond, NEVER, self.start[i] + x - self.cumulative[i])


def _demo_calendars() -> list[Any]:
    """The demo contract's team calendars (`DEMO_SERVICE_LEVELS`), read by the product's parser, by team index."""
    from tandem.located_yaml import load_yaml
    from tandem.sla.calendar import TeamCalendar

    teams = load_yaml(DEMO_SERVICE_LEVELS, "DEMO_SERVICE_LEVELS")["service_levels"]["teams"]
    calendars = {t["team"]: TeamCalendar.from_dict({k: v for k, v in t.items() if k != "members"}) for t in teams}
    return [calendars[name] for name in _TEAM_OF_SEGMENT]


@dataclass(frozen=True)
class _Decisions:
    """Each lead's decision at the handoff: event (index into HANDOFF_EVENTS, -1 none), time, reason (-1 none)."""

    event: I64
    time: I64
    reason: I64


@dataclass(frozen=True)
class _Sales:
    """What sales does with each handed-off lead, shared by the activities and the handoffs tables.

    Delays are drawn in business seconds after the handoff (B(handoff), `base`) and turned into instants with the
    team's calendar, so reps act in their working hours.
    """

    hours: _WorkingHours
    handed: Mask
    handoff: I64  # the history's start for a lead not handed off (a real instant: sums do not overflow)
    team: I64
    base: I64  # B(handoff)
    first_b: I64  # business seconds to the first follow-up (drawn for ignored leads too: reassignments use it)
    first: I64  # the first follow-up's instant
    decision: _Decisions
    activity_lead: I64  # every follow-up, the first included, before the cut-off
    activity_time: I64
    activity_kind: I64  # 0 call, 1 email, 2 meeting


def _team_index() -> I64:
    return np.asarray([_TEAM_OF_SEGMENT.index(r.team) for r in REPS], dtype=np.int64)


def _rep_values(name: str, rep: I64) -> F64:
    return np.asarray([getattr(r, name) for r in REPS], dtype=np.float64)[rep]


def _business_delay(seconds: I64) -> F64:
    """Business seconds for a follow-up delay of `seconds`: the same up to an hour, then its square root in hours.

    Why one increasing map for every rep: the funnel's odds of going on follow the delay, so leads followed up
    within a business hour are exactly those followed up within an hour, and speed still shows its worth.
    """
    hours = seconds / HOUR
    compressed = np.where(hours <= _COMPRESS_AFTER_HOURS, hours, np.sqrt(np.maximum(hours, 1.0)))
    out: F64 = compressed * HOUR
    return out


def _business_hours(rng: np.random.Generator, median_hours: F64, sigma: float) -> I64:
    """Lognormal business seconds around a median given in hours."""
    return _lognormal_seconds(rng, median_hours / 24, sigma)


def _plan_sales(
    leads: _Leads, funnel: _Funnel, reached: I64, steps: _StageParams, cal: _Calendar, rng: np.random.Generator
) -> _Sales:
    """First follow-ups, decisions and the cadence of attempts, in each rep's team's business hours.

    The first follow-up is the funnel's delay (which set the lead's odds of going on) made business time by one
    increasing map (`_business_delay`), so the leads followed up fastest are still those that convert best; a hot
    lead is reached sooner. It comes before the next stage when a business second does, and the decision always
    does. Then a cadence: two more attempts (one, for a lead the rep gives up on early) a rep's usual business gap
    apart, and for an accepted lead a few more activities over the next weeks. A rejected or recycled lead gets no
    attempt after its decision. `_Decisions.time` comes back from `_decisions` in business seconds and leaves here
    as an instant.
    """
    n = leads.count
    hours = _WorkingHours.make(cal)
    rep = leads.rep
    handed = reached[:, steps.handoff] < NEVER
    handoff = np.where(handed, reached[:, steps.handoff], cal.start)
    team = _team_index()[rep]
    base = hours.clock(team, handoff)
    hot = leads.score >= _HOT_SCORE
    first_b = np.maximum(60, (_business_delay(funnel.followup_delay) * np.where(hot, _HOT_PACE, 1.0)).astype(np.int64))
    onward_time = funnel.times[:, steps.handoff + 1]
    onward = onward_time < NEVER
    room = np.where(onward, hours.clock(team, np.where(onward, onward_time, cal.start)) - base, NEVER)
    first_b = np.where(first_b < room, first_b, np.maximum(2, (room * rng.uniform(0.3, 0.9, n)).astype(np.int64)))
    first = hours.moment(team, base + first_b)  # after the next stage only when no business second comes before it
    short = rng.random(n) < _rep_values("short_share", rep)
    gaps = [_business_hours(rng, _rep_values("cadence_hours", rep), 0.7) for _ in range(2)]
    decision, no_contact = _decisions(leads, funnel, handed, first_b, room, steps, rng)
    short &= ~no_contact  # "no answer after three calls and two emails"
    cadence_b = np.stack([first_b + gaps[0], first_b + gaps[0] + gaps[1]], axis=1)
    dec_b = np.where(no_contact, np.maximum(decision.time, cadence_b[:, 1] + 600), decision.time)
    dec = np.where(decision.event >= 0, hours.moment(team, base + np.maximum(dec_b, 1)), NEVER)
    at_touch = (decision.event >= 0) & ~funnel.ignored & (dec_b <= first_b)
    dec = np.where(at_touch, np.minimum(dec, first), dec)
    dec = np.where(onward, np.minimum(dec, onward_time), dec)  # at the next stage when no business second precedes it
    # Attempts two and three of the cadence, then more work on an accepted lead: not after a rejection or recycle.
    followed = np.flatnonzero(handed & ~funnel.ignored)
    n_cadence = np.where(short[followed], 1, 2)
    qualified = onward[followed]
    accepted = decision.event[followed] == HANDOFF_EVENTS.index("accepted")
    n_more = np.where(accepted, np.minimum(rng.poisson(0.4 + 1.4 * qualified), 5), 0)
    cad_lead = np.repeat(followed, n_cadence)
    cad_b = cadence_b[cad_lead, np.arange(cad_lead.size) - np.repeat(np.cumsum(n_cadence) - n_cadence, n_cadence)]
    more_lead = np.repeat(followed, n_more)
    span = np.where(qualified, 15.0, 10.0)[np.repeat(np.arange(followed.size), n_more)] * 8 * HOUR
    more_b = cadence_b[more_lead, 1] + 600 + (rng.random(more_lead.size) * span).astype(np.int64)
    later_lead = np.r_[cad_lead, more_lead]
    later_b = np.r_[cad_b, more_b]
    later_kind = np.r_[
        rng.choice(2, size=cad_lead.size, p=(0.55, 0.45)),
        rng.choice(3, size=more_lead.size, p=(0.45, 0.4, 0.15)),
    ]
    done = decision.event[later_lead] >= 0
    stopped = done & (decision.event[later_lead] != HANDOFF_EVENTS.index("accepted")) & (later_b >= dec_b[later_lead])
    later_lead, later_b, later_kind = later_lead[~stopped], later_b[~stopped], later_kind[~stopped]
    later_time = hours.moment(team[later_lead], base[later_lead] + later_b)
    lead = np.r_[followed, later_lead].astype(np.int64)
    occurred = np.r_[first[followed], np.maximum(later_time, first[later_lead] + 60)].astype(np.int64)
    kind = np.r_[rng.choice(2, size=followed.size, p=(0.6, 0.4)), later_kind].astype(np.int64)
    keep = occurred < cal.cutoff
    return _Sales(
        hours=hours,
        handed=handed,
        handoff=handoff,
        team=team,
        base=base,
        first_b=first_b,
        first=first,
        decision=_Decisions(decision.event, dec, decision.reason),
        activity_lead=lead[keep],
        activity_time=occurred[keep],
        activity_kind=kind[keep],
    )


def _decisions(
    leads: _Leads,
    funnel: _Funnel,
    handed: Mask,
    first_b: I64,
    room: I64,
    steps: _StageParams,
    rng: np.random.Generator,
) -> tuple[_Decisions, Mask]:
    """Accept, reject or recycle, and when, in business seconds after the handoff; and which are no-contacts.

    At the first follow-up, or a day or two of business time later for a no-contact or a recycle; a lead its rep
    ignored gets a decision only one time in seven, days later and before it goes on (`room`: the business seconds
    before the next stage). The caller turns times into instants; those after the cut-off are left out.
    """
    n = leads.count
    u_outcome, u_reason, u_decided, u_at = (rng.random(n) for _ in range(4))
    before_touch = np.where(rng.random(n) < 0.3, 0, (rng.random(n) * 900).astype(np.int64))
    later = _business_hours(rng, np.full(n, _SLOW_DECISION_HOURS), 0.8)
    ignored_after = _business_hours(rng, np.full(n, _IGNORED_DECISION_HOURS), 0.9)
    onward = funnel.times[:, steps.handoff + 1] < NEVER  # went on to the next stage, maybe after the cut-off
    duplicate = leads.duplicate_of >= 0
    reject_share = _REJECT_SHARE * np.asarray(_CHANNEL_REJECTION)[leads.channel]
    rejected = ~onward & (duplicate | (u_outcome < reject_share))
    recycled = ~onward & ~rejected & (u_outcome < reject_share + _RECYCLE_SHARE)
    reason = np.where(duplicate, REJECTION_REASONS.index("duplicate"), _pick(_cumulative([_REASON_SHARE]), u_reason))
    event = np.select(
        [rejected, recycled], [HANDOFF_EVENTS.index("rejected"), HANDOFF_EVENTS.index("recycled")]
    ).astype(np.int64)
    event = np.where(event == 0, HANDOFF_EVENTS.index("accepted"), event)
    decided = handed & (~funnel.ignored | (u_decided < _IGNORED_DECIDED))
    no_contact = rejected & (reason == REJECTION_REASONS.index("no_contact"))
    slow = recycled | no_contact
    at_touch = np.where(slow, first_b + later, np.maximum(1, first_b - before_touch))
    before_onward = room - (np.where(onward, room, 0) * u_at * 0.5).astype(np.int64)
    late = np.maximum(1, np.where(onward, np.minimum(ignored_after, before_onward), ignored_after))
    time = np.where(funnel.ignored, late, at_touch)
    decisions = _Decisions(
        event=np.where(decided, event, -1).astype(np.int64),
        time=np.where(decided, time, NEVER).astype(np.int64),
        reason=np.where(rejected, reason, -1).astype(np.int64),
    )
    return decisions, decided & no_contact & ~funnel.ignored


def _activities_table(lead_ids: Any, leads: _Leads, sales: _Sales) -> Any:
    """Sales follow-up on handed-off leads (`_plan_sales`): the first call or email, the cadence, later work."""
    order = np.lexsort((sales.activity_lead, sales.activity_time))
    lead, occurred, kind = sales.activity_lead[order], sales.activity_time[order], sales.activity_kind[order]
    return pa.table(
        {
            "activity_id": _ids("ACT-", lead.size),
            "lead_id": lead_ids.take(pa.array(lead)),
            "occurred_at": _ts(occurred),
            "kind": _labels(("call", "email", "meeting"), kind),
            "actor": _labels([r.name for r in REPS], leads.rep[lead]),
        }
    )


def _handoffs_table(lead_ids: Any, leads: _Leads, sales: _Sales, cal: _Calendar, rng: np.random.Generator) -> Any:
    """The handoff record of the module docstring: assignments, decisions and pauses, consistent with activities.

    What reps do (reassign, decide, pause) happens in their team's working hours; the assignment is the handoff.
    """
    n = leads.count
    handed, handoff, team, base, hours = sales.handed, sales.handoff, sales.team, sales.base, sales.hours
    u_reassign, u_other, u_pause, u_note = (rng.random(n) for _ in range(4))
    reassign_after = _business_hours(rng, np.full(n, _REASSIGN_HOURS), 0.8)
    pause_b = _business_hours(rng, np.full(n, _PAUSE_HOURS), 0.8)
    decision = sales.decision
    # Reassigned: first routed to a colleague, handed on to the owner before the owner's first follow-up.
    team_of_rep = _team_index()
    team_size = np.bincount(team_of_rep, minlength=len(_TEAM_OF_SEGMENT))[team]
    team_first = np.searchsorted(team_of_rep, team)
    shift = 1 + (u_other * np.maximum(team_size - 1, 1)).astype(np.int64)
    colleague = team_first + (leads.rep - team_first + shift) % team_size
    reassigned = handed & (u_reassign < REASSIGN_SHARE) & (team_size > 1)
    # At most half-way to the first follow-up (and to the decision), so a decision moved after the reassignment is
    # still at or before the first follow-up.
    limit = np.minimum(sales.first, decision.time)
    half_b = np.minimum(sales.first_b, hours.clock(team, np.minimum(limit, hours.last)) - base) // 2
    reassign_time = hours.moment(team, base + np.maximum(1, np.minimum(reassign_after, half_b)))
    wall_half = handoff + np.maximum(1, (limit - handoff) // 2)  # when no business time comes before the limit
    reassign_time = np.where(half_b < 1, np.minimum(reassign_time, wall_half), reassign_time)
    decision_time = np.where(reassigned, np.maximum(decision.time, reassign_time + 1), decision.time)
    # Paused: a clock open a business hour or more waits on the customer from a quarter of its span, for some hours.
    end = np.where((decision.event >= 0) & (decision_time < cal.cutoff), decision_time, cal.cutoff)
    span = hours.clock(team, end) - base
    paused = handed & (u_pause < PAUSE_SHARE) & (span >= HOUR)
    pause_start = hours.moment(team, base + span // 4)
    pause_end = hours.moment(team, base + span // 4 + np.maximum(60, np.minimum(pause_b, span // 2)))
    owner = np.asarray(leads.rep)
    initial = np.where(reassigned, colleague, owner)
    routing = len(REPS)
    parts = (
        # Each kind of row as (lead, time, event, owner, actor); reason, note and status follow from the event.
        _rows(np.flatnonzero(handed), handoff, "assigned", initial, routing),
        _rows(np.flatnonzero(reassigned), reassign_time, "reassigned", owner, initial),
        _rows(np.flatnonzero(decision.event >= 0), decision_time, decision.event, owner, owner),
        _rows(np.flatnonzero(paused), pause_start, "status", np.where(pause_start < reassign_time, initial, owner)),
        _rows(np.flatnonzero(paused), pause_end, "status", np.where(pause_end < reassign_time, initial, owner)),
    )
    lead, occurred, event, holder, actor = (np.concatenate([p[k] for p in parts]) for k in range(5))
    reason = np.where(event == HANDOFF_EVENTS.index("rejected"), decision.reason[lead], -1)
    # Notes: rejections and recycles, three in four; the reason's note, or recycling's.
    noted = np.isin(event, [HANDOFF_EVENTS.index("rejected"), HANDOFF_EVENTS.index("recycled")]) & (u_note[lead] < 0.75)
    variant = (u_note[lead] < 0.375).astype(np.int64)
    note = np.where(reason >= 0, 2 * reason + variant, 2 * len(REJECTION_REASONS) + variant)
    status = np.r_[
        np.full(parts[0][0].size + parts[1][0].size + parts[2][0].size, -1),
        np.zeros(parts[3][0].size, dtype=np.int64),
        np.ones(parts[4][0].size, dtype=np.int64),
    ]
    keep = occurred < cal.cutoff
    order = np.flatnonzero(keep)[np.lexsort((event[keep], lead[keep], occurred[keep]))]
    names = [r.name for r in REPS]
    notes = [text for pair in (*_REASON_NOTES, _RECYCLE_NOTES) for text in pair]
    return pa.table(
        {
            "lead_id": lead_ids.take(pa.array(lead[order])),
            "occurred_at": _ts(occurred[order]),
            "event": _labels(HANDOFF_EVENTS, event[order]),
            "owner": _labels(names, holder[order]),
            "team": _labels([r.team for r in REPS], holder[order]),
            "reason": _labels(REJECTION_REASONS, np.maximum(reason[order], 0), reason[order] < 0),
            "note": _labels(notes, note[order], ~noted[order]),
            "status": _labels(("waiting_on_customer", "working"), np.maximum(status[order], 0), status[order] < 0),
            "actor": _labels([*names, _ROUTING], actor[order]),
        }
    )


def _rows(
    lead: I64, time: I64, event: str | I64, owner: I64, actor: I64 | int | None = None
) -> tuple[I64, I64, I64, I64, I64]:
    """One kind of handoff row for `lead` (indices): its time, event, owner and actor (the owner if None)."""
    kind = np.full(lead.size, HANDOFF_EVENTS.index(event), dtype=np.int64) if isinstance(event, str) else event[lead]
    holder = owner[lead]
    who = holder if actor is None else np.full(lead.size, actor) if isinstance(actor, int) else actor[lead]
    return lead, time[lead], kind, holder, np.asarray(who, dtype=np.int64)


@dataclass(frozen=True)
class _Spend:
    campaign: I64  # one row per campaign and live day in the history
    day: I64  # day index in the history
    amount: F64
    budget: F64  # per campaign: planned spend over its whole run


def _make_spend(leads: _Leads, camps: _Campaigns, rng: np.random.Generator) -> _Spend:
    """Daily spend per campaign: cost per lead (the channel's, times an efficiency) for the leads it brought.

    60 % of a campaign's money is spread evenly over its live days (budgets are paced), 40 % follows its daily
    leads, so spend / leads per channel comes out at the channel's cost per lead.
    """
    nc = camps.count
    counts = np.bincount(leads.campaign * HISTORY_DAYS + leads.day, minlength=nc * HISTORY_DAYS)
    counts = counts.reshape(nc, HISTORY_DAYS).astype(np.float64)
    day = np.arange(HISTORY_DAYS)
    live = (day[None, :] >= camps.start[:, None]) & (day[None, :] <= camps.end[:, None])
    live_days = np.maximum(live.sum(axis=1), 1)
    total = counts.sum(axis=1)
    even = np.where(total > 0, 0.6 * total / live_days, 0.05)  # a campaign without leads still costs a little
    cpl = np.asarray([c.cost_per_lead for c in CHANNELS])[camps.channel] * rng.lognormal(0.0, 0.15, nc)
    daily = cpl[:, None] * (even[:, None] + 0.4 * counts) * rng.lognormal(0.0, 0.1, (nc, HISTORY_DAYS))
    daily = np.round(np.where(live, daily, 0.0), 2).astype(np.float64)
    campaign, spent_day = np.nonzero(daily > 0)
    planned = (camps.end - camps.start + 1) / live_days
    budget = np.ceil(daily.sum(axis=1) * planned * rng.uniform(1.0, 1.15, nc) / 100.0) * 100.0
    return _Spend(campaign.astype(np.int64), spent_day.astype(np.int64), daily[campaign, spent_day], budget)


def _campaigns_table(camps: _Campaigns, spend: _Spend, cal: _Calendar) -> Any:
    return pa.table(
        {
            "campaign_id": _ids("CMP-", camps.count),
            "name": pa.array(camps.names, type=pa.string()),
            "channel": _labels([c.name for c in CHANNELS], camps.channel),
            "start_date": _dates(cal.first_day + camps.start),
            "end_date": _dates(cal.first_day + camps.end),
            "budget": pa.array(spend.budget, type=pa.float64()),
        }
    )


def _spend_table(spend: _Spend, camps: _Campaigns, cal: _Calendar) -> Any:
    return pa.table(
        {
            "date": _dates(cal.first_day + spend.day),
            "amount": pa.array(spend.amount, type=pa.float64()),
            "campaign_id": _ids("CMP-", camps.count).take(pa.array(spend.campaign)),
            "channel": _labels([c.name for c in CHANNELS], camps.channel[spend.campaign]),
        }
    )


def _accounts_table(accounts: _Accounts) -> Any:
    return pa.table(
        {
            "account_id": _ids("ACC-", accounts.segment.size),
            "name": accounts.name,
            "segment": _labels(SEGMENTS, accounts.segment),
            "industry": _labels(INDUSTRIES, accounts.industry),
            "employees": pa.array(accounts.employees, type=pa.int64()),
            "region": _labels(REGIONS, accounts.region),
            "country": _labels([c for region in _COUNTRIES for c in region], accounts.country),
        }
    )
