"""benchmarks/RESULTS.md: each benchmark owns one ``## `` section and rewrites only that one.

A section may hold ``### `` parts: one a mode of the script writes on its own (`write_subsection`), which the
section's main mode keeps when it rewrites the rest (``keep``), and a ``### ... (by hand`` part, written by people
and always kept, last.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def _section(title: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)


def _parts(body: str) -> tuple[str, list[str], str]:
    """A section's text before its first ``### ``, its ``### `` parts but the by-hand one, and the by-hand part."""
    found = re.search(r"^### [^\n]*\(by hand.*", body, re.S | re.M)
    by_hand = found.group(0).rstrip("\n") if found else ""
    body = body[: found.start()] if found else body
    pieces = re.split(r"^(?=### )", body, flags=re.M)
    return pieces[0].rstrip("\n"), [p.rstrip("\n") for p in pieces[1:]], by_hand


def _join(*parts: str) -> str:
    return "\n\n".join(p for p in parts if p) + "\n"


def write_section(title: str, section: str, results: Path = RESULTS, keep: Sequence[str] = ()) -> None:
    """Replace the section headed `title`, or append it: the by-hand part is kept, and so are the ``### `` parts
    whose heading starts with one of `keep` (after `section`, in the order they were)."""
    text = results.read_text() if results.exists() else "# Benchmarks\n\n"
    found = _section(title).search(text)
    if found:
        _, subsections, by_hand = _parts(found.group(0))
        kept = [p for p in subsections if any(p.startswith(k) for k in keep)]
        section = _join(section.rstrip("\n"), *kept, by_hand)
        text = _section(title).sub(lambda _m: section + "\n", text).rstrip("\n") + "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    results.write_text(text)


def write_subsection(title: str, heading: str, subsection: str, results: Path = RESULTS) -> None:
    """Replace the part headed `heading` (a ``### `` line) of the section `title`; a new one goes before the by-hand
    part. A missing section is started with just its title."""
    text = results.read_text() if results.exists() else "# Benchmarks\n\n"
    found = _section(title).search(text)
    if not found:
        text = text.rstrip("\n") + f"\n\n{title}\n"
        found = _section(title).search(text)
        assert found is not None
    head, subsections, by_hand = _parts(found.group(0))
    replaced = [subsection.rstrip("\n") if p.startswith(heading) else p for p in subsections]
    if not any(p.startswith(heading) for p in subsections):
        replaced.append(subsection.rstrip("\n"))
    section = _join(head, *replaced, by_hand)
    results.write_text(_section(title).sub(lambda _m: section + "\n", text).rstrip("\n") + "\n")
