"""What a funnel question asks, resolved once: the frozen spec every engine function takes.

Defaults live here and nowhere else (as_of now, horizon 90 days or the window), so the CLI, the Python API and the
web app ask the same question the same way.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tandem.errors import ConfigError

__all__ = ["PERIOD_UNITS", "FunnelSpec", "Period", "to_timestamp"]

Period = Literal["day", "week", "month", "quarter"]
#: Ibis truncation unit of each period; weeks start on Monday on every backend.
PERIOD_UNITS: dict[str, str] = {"day": "D", "week": "W", "month": "M", "quarter": "Q"}
DEFAULT_HORIZON_DAYS = 90


def to_timestamp(value: date | datetime | str | None) -> datetime | None:
    """A naive UTC datetime from a date, an aware or naive datetime, or an ISO string (dates at 00:00)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ConfigError(f"{value!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    return datetime(value.year, value.month, value.day)


def as_of_or_now(value: date | datetime | str | None) -> datetime:
    """The moment a result is computed as of: `value` as naive UTC (`to_timestamp`), or now when it is None."""
    return to_timestamp(value) or datetime.now(UTC).replace(tzinfo=None)


class FunnelSpec(BaseModel):
    """A funnel question. `stages` come from the workspace's definitions; the rest from the user."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stages: tuple[str, ...]
    by: tuple[str, ...] = ()
    period: Period | None = None
    start: datetime | None = None
    end: datetime | None = None
    strict: bool = False
    window_days: int | None = Field(default=None, ge=1)
    horizon_days: int | None = Field(default=None, ge=1)
    as_of: datetime = Field(default_factory=lambda: datetime.now(UTC).replace(tzinfo=None))

    @field_validator("start", "end", "as_of", mode="before")
    @classmethod
    def _utc(cls, value: date | datetime | str | None) -> datetime | None:
        return to_timestamp(value)

    @model_validator(mode="after")
    def _consistent(self) -> FunnelSpec:
        if len(self.stages) < 2:
            raise ConfigError("a funnel needs at least two stages")
        if self.start and self.end and self.start >= self.end:
            raise ConfigError(f"--from {self.start:%Y-%m-%d} must be before --to {self.end:%Y-%m-%d}")
        duplicated = sorted({c for c in self.by if self.by.count(c) > 1})
        if duplicated:
            raise ConfigError(f"breakdown column(s) {', '.join(duplicated)} given more than once")
        return self

    @property
    def horizon(self) -> int:
        """Days for 'still open' and the Kaplan-Meier estimate: the horizon given, else the window, else 90."""
        return self.horizon_days or self.window_days or DEFAULT_HORIZON_DAYS

    def stage_index(self, stage: str) -> int:
        try:
            return self.stages.index(stage)
        except ValueError:
            raise ConfigError(f"unknown stage {stage!r}; the funnel's stages are: {', '.join(self.stages)}") from None
