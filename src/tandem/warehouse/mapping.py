"""Mappings: how a source file's columns become a canonical table's columns.

A mapping is TOML (a user file) or a named preset shipped with tandem (HubSpot, Salesforce exports). For each
canonical column it names a source column (or a list of alternatives, first present wins) or a constant, with an
optional date format and a value map. Canonical columns a mapping does not mention are taken from a source column
of the same name, if any. Source columns nobody maps are kept as attributes unless `keep_unmapped = false`.
A mapped source column the file lacks is an error, except for optional columns in a `lenient` mapping (the
presets are lenient: exports differ from one CRM account to the next).

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
"""

from __future__ import annotations

import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tandem.errors import MappingError
from tandem.warehouse.schema import TABLES

__all__ = ["ColumnSource", "Mapping", "RowFilter", "list_presets", "load_mapping"]

_PRESET_PACKAGE = "tandem.warehouse.presets"


class ColumnSource(BaseModel):
    """Where one canonical column comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: Annotated[list[str], Field(min_length=1)] | None = None
    constant: str | None = None
    format: str | None = None
    values: dict[str, str] = Field(default_factory=dict)
    otherwise: str | None = None

    @field_validator("column", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _column_xor_constant(self) -> ColumnSource:
        if (self.column is None) == (self.constant is None):
            raise ValueError("give exactly one of `column` (a source column name) or `constant` (a fixed value)")
        return self


class RowFilter(BaseModel):
    """Keep only rows whose `column` holds one of `values` (e.g. Salesforce field history rows for Status)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    values: Annotated[list[str], Field(min_length=1)]


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
    columns: dict[str, ColumnSource] = Field(default_factory=dict)
    stage_columns: dict[str, str] = Field(default_factory=dict)
    ignore: list[str] = Field(default_factory=list)
    filter: RowFilter | None = None

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
        return _parse(path.read_text(encoding="utf-8"), str(path), path.stem)
    preset = resources.files(_PRESET_PACKAGE).joinpath(f"{name_or_path}.toml")
    if not preset.is_file():
        raise MappingError(
            f"no mapping preset or file called {str(name_or_path)!r}; presets: {', '.join(list_presets())}; "
            "or give the path of a TOML mapping file"
        )
    return _parse(preset.read_text(encoding="utf-8"), f"preset {name_or_path}", str(name_or_path))


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
