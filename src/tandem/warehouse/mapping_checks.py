"""Does a file look like the export its mapping is for? And what a mapping does, in words.

The expected columns
--------------------
A mapping expects the source columns it names: each mapped canonical column (its alternatives count as one: the
first present is used), each ``[stage_columns]`` column and the ``[filter]`` column. Constants expect nothing. A
mapping can list them itself with ``expect = ["Record ID", ["Country/Region", "Country"], ...]`` instead.

The threshold
-------------
A file missing **more than half** of the expected columns is refused, with the missing columns listed and the
preset the file does fit suggested when one does. This applies to a lenient mapping (the presets are) and to one
that lists `expect`: a strict mapping already refuses each mapped column the file lacks, by name. Why half: exports
of the same object differ between accounts and vintages by a few optional columns (the shipped fixtures of older
HubSpot and Salesforce report exports lack up to four of ten), while a file of another object shares only its id
and dates with the preset (a HubSpot deals file has 4 of the 11 columns of the contacts preset).
``tandem import --lenient`` (``accept_missing``) lets such a file through on purpose; a file that is accepted but
lacks some expected columns is imported without them, and the import summary names them
(`ImportResult.missing_columns`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from tandem.errors import MappingError
from tandem.warehouse.mapping import ColumnSource, Mapping, list_presets, load_mapping, read_mapping_text
from tandem.warehouse.schema import TABLES, attribute_name

__all__ = [
    "check_file",
    "column_rules",
    "expected_columns",
    "lenient",
    "mapping_source",
    "missing_columns",
    "suggest_preset",
]

_PRESET_PACKAGE = "tandem.warehouse.presets"


def expected_columns(mapping: Mapping) -> list[tuple[str, ...]]:
    """The source columns a file for `mapping` should have, each as its alternatives, in the mapping's order."""
    if mapping.expect is not None:
        groups = [(item,) if isinstance(item, str) else tuple(item) for item in mapping.expect]
    else:
        groups = [tuple(source.column) for source in mapping.columns.values() if source.column]
        groups += [(c,) if isinstance(c, str) else tuple(c) for c in mapping.stage_columns.values()]
        if mapping.filter is not None:
            column = mapping.filter.column
            groups.append((column,) if isinstance(column, str) else tuple(column))
    return [group for group in dict.fromkeys(groups) if group]


def _present(header: Iterable[str]) -> set[str]:
    """Every form a header's names are matched in: as written, lower case, snake_case (as the importer finds them)."""
    names = list(header)
    return {*names, *(n.lower() for n in names), *(attribute_name(n) for n in names)}


def _found(wanted: str, present: set[str]) -> bool:
    return wanted in present or wanted.lower() in present or attribute_name(wanted) in present


def missing_columns(mapping: Mapping, header: Iterable[str]) -> list[str]:
    """The expected columns the file lacks, each named by its first alternative."""
    present = _present(header)
    return [group[0] for group in expected_columns(mapping) if not any(_found(w, present) for w in group)]


def check_file(mapping: Mapping, header: Iterable[str], path: Path) -> list[str]:
    """The expected columns the file at `path` (with this header) lacks; `MappingError` when more than half are
    missing and the mapping does not `accept_missing`: the one-line message names the file, the missing columns, the
    preset that fits if any, and ``--lenient``."""
    names = list(header)
    expected = expected_columns(mapping)
    missing = missing_columns(mapping, names)
    # A strict mapping (not lenient, no `expect`) already refuses each mapped column the file lacks, by name.
    strict = not mapping.lenient and mapping.expect is None
    if strict or not expected or 2 * len(missing) <= len(expected) or mapping.accept_missing:
        return missing
    fits = suggest_preset(names, exclude=mapping.name)
    hint = ""
    if fits is not None:
        name, table, label = fits
        hint = f"; it looks like a {label}: use --mapping {name} (table {table})"
    raise MappingError(
        f"{path.name} does not look like a file for mapping {mapping.name!r}: {len(missing)} of the {len(expected)} "
        f"columns it expects are missing ({', '.join(missing)}){hint}; or pass --lenient to import it anyway"
    )


def suggest_preset(header: Iterable[str], exclude: str = "") -> tuple[str, str, str] | None:
    """The shipped preset this header fits best, if any would accept it: (name, table, what it is for)."""
    names = list(header)
    best: tuple[float, int, str, str, str] | None = None
    for name, description in list_presets().items():
        if name == exclude:
            continue
        preset = load_mapping(name)
        expected = expected_columns(preset)
        missing = len(missing_columns(preset, names))
        if not expected or 2 * missing > len(expected):
            continue
        present = len(expected) - missing
        label = re.split(r" \(| ->", description, maxsplit=1)[0].strip() or f"{name} file"
        score = (present / len(expected), present, name, preset.table or "", label)
        if best is None or score[:2] > best[:2]:
            best = score
    return None if best is None else (best[2], best[3], best[4])


def lenient(name_or_path: str | Path | Mapping | None) -> Mapping:
    """The mapping as ``--lenient`` uses it: a file missing most expected columns, or optional mapped columns, is
    imported anyway (required columns are still required)."""
    mapping = name_or_path if isinstance(name_or_path, Mapping) else load_mapping(name_or_path)
    return mapping.model_copy(update={"lenient": True, "accept_missing": True})


def mapping_source(name_or_path: str | Path) -> str:
    """The TOML text of a preset (comments included) or of a mapping file: what to copy and edit."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        load_mapping(path)  # refuses a missing or invalid file with its one-line reason
        return read_mapping_text(path)
    load_mapping(str(name_or_path))  # refuses an unknown preset, listing them
    return resources.files(_PRESET_PACKAGE).joinpath(f"{name_or_path}.toml").read_text(encoding="utf-8")


def column_rules(mapping: Mapping) -> list[tuple[str, str]]:
    """How each canonical column (and the rest of the file) is read, in words: (column, rule)."""
    table = TABLES.get(mapping.table or "")
    dated = {c.name for c in table.columns if c.type in {"timestamp", "date"}} if table else set(mapping.columns)
    rules = [
        (name, _rule(source, mapping.date_format if name in dated else None))
        for name, source in mapping.columns.items()
    ]
    for stage, column in mapping.stage_columns.items():
        alternatives = [column] if isinstance(column, str) else column
        rules.append((f"stage {stage}", f"an event dated by {_names(alternatives)}, where it is not empty"))
    if mapping.filter is not None:
        kept = ", ".join(mapping.filter.values) if mapping.filter.values else "any value"
        column = mapping.filter.column
        where = repr(column) if isinstance(column, str) else " or ".join(map(repr, column))
        rules.append(("rows", f"only where {where} is {kept}"))
    rules.append(
        (
            "other columns",
            "kept as attributes (snake_case names)" if mapping.keep_unmapped else "ignored (keep_unmapped = false)",
        )
    )
    for derived in mapping.derived:
        rules.append((f"also {derived.table}", f"{derived.name}, from the same file when it has the columns"))
    return rules


def _names(alternatives: Iterable[str]) -> str:
    names = [repr(a) for a in alternatives]
    return names[0] if len(names) == 1 else f"the first present of {', '.join(names)}"


def _rule(source: ColumnSource, date_format: str | None) -> str:
    if source.constant is not None:
        return f"always {source.constant!r}"
    assert source.column is not None
    parts = [f"from {_names(source.column)}"]
    if source.format or date_format:
        parts.append(f"format {source.format or date_format}")
    if source.values:
        parts.append("values " + ", ".join(f"{k!r} -> {v!r}" for k, v in source.values.items()))
    if source.otherwise is not None:
        parts.append(f"any other value -> {source.otherwise!r}")
    return "; ".join(parts)
