"""What the history of alerts holds and how it may be asked for: the statuses of a row, the most rows one question
lists, and the checks of both.

A module of its own, importing nothing heavy (like the `tandem.alerts` package itself, which loads its other
modules when a name is used), so that the command line can offer the statuses as choices at start-up. The history
itself is kept and read by `tandem.alerts.service`.
"""

from __future__ import annotations

from tandem.errors import ConfigError

__all__ = ["HISTORY_STATUSES", "MAX_HISTORY", "check_limit", "check_status"]

#: Status of a history row.
HISTORY_STATUSES = ("sending", "sent", "failed", "gave_up")
#: The most rows one read of the history lists.
MAX_HISTORY = 500


def check_status(status: str | None) -> str | None:
    """The status a question filters on (none: every status); an unknown one is refused naming the ``status``."""
    if status is not None and status not in HISTORY_STATUSES:
        raise ConfigError(
            f"unknown alert status {status!r}; one of: {', '.join(HISTORY_STATUSES)}", field="status", value=status
        )
    return status


def check_limit(limit: int) -> int:
    """How many rows, newest first: 1 to `MAX_HISTORY`; any other number is refused naming the ``limit``."""
    if limit < 1:
        raise ConfigError(f"{limit!r} is too small; use 1 or more", field="limit", value=limit)
    if limit > MAX_HISTORY:
        raise ConfigError(f"{limit!r} is too large; use at most {MAX_HISTORY}", field="limit", value=limit)
    return limit
