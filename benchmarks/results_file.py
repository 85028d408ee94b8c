"""benchmarks/RESULTS.md: each benchmark owns one ``## `` section and rewrites only that one."""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(title: str, section: str, results: Path = RESULTS) -> None:
    """Replace the section headed `title` (keeping a ``### ... (by hand`` part written under it), or append it."""
    text = results.read_text() if results.exists() else "# Benchmarks\n\n"
    pattern = re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    found = pattern.search(text)
    if found:
        by_hand = re.search(r"^### [^\n]*\(by hand.*", found.group(0), re.S | re.M)
        if by_hand:
            section = section.rstrip("\n") + "\n\n" + by_hand.group(0).rstrip("\n") + "\n"
        text = pattern.sub(lambda _m: section + "\n", text).rstrip("\n") + "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    results.write_text(text)
