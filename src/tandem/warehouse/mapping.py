"""Mappings: how a source file's columns become a canonical table's columns.

A mapping is TOML (a user file) or a named preset shipped with tandem (HubSpot, Salesforce exports). For each
canonical column it names a source column (or a list of alternatives, first present wins) or a constant, with an
optional date format and a value map. Canonical columns a mapping does not mention are taken from a source column
of the same name, if any. Source columns nobody maps are kept as attributes unless `keep_unmapped = false`.
A mapped source column the file lacks is an error, except for optional columns in a `lenient` mapping (the
presets are lenient: exports differ from one CRM account to the next). A file missing more than half of the
columns a mapping expects (`expect`, else the columns it maps) is refused as the wrong file, unless
`accept_missing` (``tandem import --lenient``); see `tandem.warehouse.mapping_checks`.

Top-level options: `table`, `timezone` (IANA name; where the file's local times are; stored as UTC),
`delimiter`, `encoding` (utf-8, latin-1, utf-16; detected when absent), `date_format` (strftime, for every date
column without its own `format`), `keep_unmapped`, `lenient`, `ignore` (source columns to drop), `[filter]`.
A value map matches the trimmed text exactly; a value it does not list is kept, or replaced by `otherwise`.

Example (the Maven CRM pipeline shipped in ``examples/``)::

    table = "opportunities"
    timezone = "UTC"

    [columns]
    opportunity_id = "opportunity_id"
    created_at = { column = "engage_date", format = "%Y-%m-%d" }
    status = { column = "deal_stage", values = { Won = "won", Lost = "lost" }, otherwise = "open" }
    amount = "close_value"

A wide lifecycle-stage export (one date column per stage, as HubSpot's "Became a ... Date") is turned into one
stage event per non-empty cell with ``[stage_columns]``::

    table = "stage_events"
    [columns]
    lead_id = "Record ID"
    [stage_columns]
    lead = "Became a Lead Date"
    mql = "Became a Marketing Qualified Lead Date"

A stage column can hold a date only some rows mean: ``[stage_when.won]`` (a `RowFilter`) keeps the ``won`` cell
only where, say, the deal stage is "Closed won". A lenient mapping skips stage columns the file lacks.

A cell holding several values (HubSpot's "Associated Contact IDs": ``101;102``) is split with
``split = ";"``: ``keep = "each"`` (the default) gives one row per value, ``keep = "first"`` keeps the first.
``lookup = { table = "leads", column = "converted_opportunity_id" }`` reads a cell as a value of another table's
column (as imported, before this import) and takes that row's key: a Salesforce opportunity finds its lead.

Derived tables: one file, several tables. A mapping can list ``[[derived]]`` mappings, each for its own table,
that the same import fills from the same file, with the same import id and in the same transaction (so they are
atomic, idempotent and undone with it). A HubSpot contacts export gives leads and, from its "Became a ... Date"
columns, stage events. A derived mapping applies when the file has the columns it needs; ``fallback_for = NAME``
makes it apply only when the derived mapping NAME did not. In a derived stage_events table, rows without a lead
or a stage (a value mapped to ``""``) are left out, and so are stages the workspace does not have (counted and
reported); events may name leads not imported yet (they count once those leads are). ``note`` is shown when the
derived mapping applies. A stage event dated by tandem rather than by the source (a CRM's current stage, dated at
the lead's creation) says so with a `source` ending in ``(undated)``; the data-quality report counts them, and
a dated event of the same lead wins over it (`tandem.engine.quality.prefer_dated`).
"""

from __future__ import annotations

import os
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tandem.errors import MappingError
from tandem.warehouse.schema import TABLES

__all__ = [
    "ColumnSource",
    "Lookup",
    "Mapping",
    "RowFilter",
    "check_date_format",
    "list_presets",
    "load_mapping",
    "read_mapping_text",
]

_PRESET_PACKAGE = "tandem.warehouse.presets"


class Lookup(BaseModel):
    """Read a cell as a value of another table's column, and take that row's key instead: a Salesforce
    opportunity's Id is found in the leads' ConvertedOpportunityId, which gives the opportunity its lead."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str
    #: The column of `table` to match (the first it has, of alternatives: attribute names differ by export).
    column: str | list[str]

    @field_validator("table")
    @classmethod
    def _known_table(cls, value: str) -> str:
        if value not in TABLES or len(TABLES[value].key) != 1:
            keyed = [name for name, spec in TABLES.items() if len(spec.key) == 1]
            raise ValueError(f"lookup table {value!r} is not one of {', '.join(keyed)}")
        return value

    @property
    def columns(self) -> list[str]:
        return [self.column] if isinstance(self.column, str) else self.column


class ColumnSource(BaseModel):
    """Where one canonical column comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: Annotated[list[str], Field(min_length=1)] | None = None
    constant: str | None = None
    format: str | None = None
    values: dict[str, str] = Field(default_factory=dict)
    otherwise: str | None = None
    #: The cell holds several values joined by this separator: one row per value, or the first (`keep`).
    split: Annotated[str, Field(min_length=1)] | None = None
    keep: Literal["each", "first"] = "each"
    #: Replace the value by the key of the `lookup.table` row whose `lookup.column` holds it (none: empty).
    lookup: Lookup | None = None

    @field_validator("column", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("format")
    @classmethod
    def _readable_format(cls, value: str | None) -> str | None:
        return check_date_format(value)

    @model_validator(mode="after")
    def _column_xor_constant(self) -> ColumnSource:
        if (self.column is None) == (self.constant is None):
            raise ValueError("give exactly one of `column` (a source column name) or `constant` (a fixed value)")
        return self


class RowFilter(BaseModel):
    """Keep only rows whose `column` holds one of `values` (e.g. Salesforce field history rows for Status), or,
    with ``present = true``, any value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: A source column, or alternatives (first present wins: API names, report labels).
    column: str | list[str]
    values: list[str] = Field(default_factory=list)
    present: bool = False

    @model_validator(mode="after")
    def _values_xor_present(self) -> RowFilter:
        if bool(self.values) == self.present:
            raise ValueError("give either `values` (the values to keep) or `present = true` (any value), not both")
        return self


class Mapping(BaseModel):
    """A validated mapping. Build one with `load_mapping`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "default"
    table: str | None = None
    description: str = ""
    timezone: str = "UTC"
    delimiter: str | None = None
    encoding: str | None = None
    date_format: str | None = None
    keep_unmapped: bool = True
    #: Skip optional columns whose source column is absent (presets set it: exports differ by account).
    lenient: bool = False
    #: The source columns a file for this mapping has (each a name or alternatives); default: those it maps.
    #: A file missing more than half of them is refused (`tandem.warehouse.mapping_checks`).
    expect: list[str | list[str]] | None = None
    #: Import a file missing most expected columns anyway (what `tandem import --lenient` sets).
    accept_missing: bool = False
    columns: dict[str, ColumnSource] = Field(default_factory=dict)
    #: Stage -> the column of its entry dates, or alternatives (first present wins).
    stage_columns: dict[str, str | list[str]] = Field(default_factory=dict)
    #: Stage -> the rows whose stage column counts (e.g. the close date only for won deals).
    stage_when: dict[str, RowFilter] = Field(default_factory=dict)
    ignore: list[str] = Field(default_factory=list)
    filter: RowFilter | None = None
    #: Other tables the same file fills in the same import (see the module docstring).
    derived: list[Mapping] = Field(default_factory=list)
    #: A derived mapping used only when the derived mapping of this name did not apply to the file.
    fallback_for: str | None = None
    #: Shown when a derived mapping applies (what its rows mean, how to get better ones).
    note: str = ""

    @model_validator(mode="after")
    def _derived_tables(self) -> Mapping:
        unknown = sorted(set(self.stage_when) - set(self.stage_columns))
        if unknown:
            raise ValueError(f"[stage_when] names {', '.join(unknown)}, which [stage_columns] does not list")
        names: list[str] = []
        for index, derived in enumerate(self.derived):
            where = f"derived[{index}]"
            if derived.derived:
                raise ValueError(f"{where}: a derived mapping cannot list derived mappings of its own")
            if derived.table is None or derived.name == "default":
                raise ValueError(f"{where}: a derived mapping needs a `name` and a `table`")
            if derived.fallback_for is not None and derived.fallback_for not in names:
                raise ValueError(
                    f"{where}: fallback_for = {derived.fallback_for!r} names no derived mapping listed before it"
                    + (f" (those are: {', '.join(names)})" if names else "")
                )
            names.append(derived.name)
        return self

    @field_validator("columns", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"column": v} if isinstance(v, str | list) else v for k, v in value.items()}
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Europe/Paris' or 'UTC'") from None
        return value

    @field_validator("date_format")
    @classmethod
    def _readable_date_format(cls, value: str | None) -> str | None:
        return check_date_format(value)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is None:
            return None
        normal = value.lower().replace("_", "-")
        aliases = {"utf8": "utf-8", "utf-8-sig": "utf-8", "latin1": "latin-1", "iso-8859-1": "latin-1"}
        normal = aliases.get(normal, normal)
        if normal not in {"utf-8", "latin-1", "utf-16"}:
            raise ValueError(f"unsupported encoding {value!r}; use 'utf-8', 'latin-1' or 'utf-16'")
        return normal

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        if value is not None and len(value) != 1:
            raise ValueError(f"delimiter must be one character, got {value!r}")
        return value

    def check_table(self, kind: str) -> None:
        """Refuse a mapping written for another table, and canonical columns the table does not have."""
        if self.table is not None and self.table != kind:
            raise MappingError(f"mapping {self.name!r} is for table {self.table!r}, not {kind!r}")
        known = TABLES[kind].column_names
        unknown = [c for c in self.columns if c not in known]
        if unknown:
            raise MappingError(
                f"mapping {self.name!r} maps {', '.join(map(repr, unknown))}, which table {kind!r} does not have; "
                f"its columns are: {', '.join(known)}"
            )
        if self.stage_columns and kind != "stage_events":
            raise MappingError(f"mapping {self.name!r}: [stage_columns] only applies to stage_events, not {kind!r}")
        for derived in self.derived:
            assert derived.table is not None  # checked when the mapping was read
            if derived.table not in TABLES:
                raise MappingError(
                    f"mapping {self.name!r}: derived mapping {derived.name!r} is for table {derived.table!r}, "
                    f"which tandem does not have; tables: {', '.join(TABLES)}"
                )
            derived.check_table(derived.table)

    def derived_for_file(self) -> list[Mapping]:
        """The derived mappings, each reading the file as this one does (time zone, delimiter, encoding, date
        format) unless it says otherwise."""
        shared = ("timezone", "delimiter", "encoding", "date_format")
        return [
            d.model_copy(update={k: getattr(self, k) for k in shared if k not in d.model_fields_set})
            for d in self.derived
        ]


#: The strptime directives DuckDB reads (``%-d`` and the like: without padding).
_DIRECTIVES = frozenset("aAbBcdfgGhHIjmMnpSuUVwWxXyYzZ%")
_DIRECTIVE = re.compile(r"%(-?)(.?)", re.DOTALL)


def check_date_format(value: str | None) -> str | None:
    """Refuse a date format the importer could not use, naming the directive (DuckDB would stop the import)."""
    if value is None:
        return None
    for match in _DIRECTIVE.finditer(value):
        letter = match.group(2)
        if letter not in _DIRECTIVES or (match.group(1) and letter == "%"):
            shown = match.group(0) if letter else "a lone % at the end"
            raise ValueError(
                f"date format {value!r} has {shown}, which is not a strptime directive; use directives such as "
                "%Y, %m, %d, %H, %M, %S, %z (e.g. '%Y-%m-%d' or '%d/%m/%Y %H:%M'), and %% for a percent sign"
            )
    import duckdb

    try:
        duckdb.connect().execute("SELECT try_strptime('', $f)", {"f": value})
    except duckdb.Error as exc:
        raise ValueError(f"date format {value!r} cannot be used: {str(exc).splitlines()[0]}") from None
    return value


def list_presets() -> dict[str, str]:
    """Preset name -> one-line description."""
    out: dict[str, str] = {}
    for entry in sorted(resources.files(_PRESET_PACKAGE).iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            data = tomllib.loads(entry.read_text(encoding="utf-8"))
            out[entry.name.removesuffix(".toml")] = str(data.get("description", ""))
    return out


def load_mapping(name_or_path: str | os.PathLike[str] | None) -> Mapping:
    """A mapping from a preset name, a TOML file path, or the identity mapping when None."""
    if name_or_path is None:
        return Mapping()
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise MappingError(f"mapping file {str(path)!r} does not exist")
        return _parse(read_mapping_text(path), str(path), path.stem)
    preset = resources.files(_PRESET_PACKAGE).joinpath(f"{name_or_path}.toml")
    if not preset.is_file():
        raise MappingError(
            f"no mapping preset or file called {str(name_or_path)!r}; presets: {', '.join(list_presets())}; "
            "or give the path of a TOML mapping file"
        )
    return _parse(preset.read_text(encoding="utf-8"), f"preset {name_or_path}", str(name_or_path))


def read_mapping_text(path: Path) -> str:
    """A mapping file's text; a file that is not UTF-8 is refused with the line of its first bad byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MappingError(
            f"{path}: line {line}: byte 0x{data[exc.start]:02x} is not UTF-8 (TOML files are UTF-8); save the "
            "mapping file as UTF-8 (in most editors: Save as, encoding UTF-8) and try again"
        ) from None


def _parse(text: str, origin: str, default_name: str) -> Mapping:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{origin}: not valid TOML: {exc}") from None
    data.setdefault("name", default_name)
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()
        )
        raise MappingError(f"{origin}: {problems}") from None
