"""The roles people have in a workspace, one per user: a word of the vocabulary, in a module of its own.

`tandem.accounts` says what each role may do (`Permission`, `PERMISSION_ROLES`); this module only names them, and
imports nothing, so that the command line can offer them as choices without loading the accounts module
(argon2, SQLAlchemy) at start-up.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Role"]


class Role(StrEnum):
    """admin, marketing, sales, exec or viewer (see `tandem.accounts` for what each may do)."""

    ADMIN = "admin"
    MARKETING = "marketing"
    SALES = "sales"
    EXEC = "exec"
    VIEWER = "viewer"
