"""Field mappings: how the columns of an export become the canonical fields of a training row.

A mapping is a small JSON document, so a team can train on a Zendesk, Jira or ServiceNow
export without code::

    {
      "name": "gitbugs",
      "fields": {"subject": "Summary", "description": "Description",
                 "priority": "Priority", "created_at": "Created", "solved_at": "Resolved",
                 "observed_at": {"const": "2024-12-31T00:00:00Z"}},
      "values": {"priority": {"Blocker": "P1", "Critical": "P1", "Major": "P2", "Minor": "P3", "Trivial": "P4"}},
      "timestamp_format": "%d/%b/%y %H:%M",
      "missing": ["", "?"]
    }

``fields`` maps a canonical field to a source path (dots walk into nested JSON objects) or to
``{"const": value}`` (ISO 8601 for times); unmapped fields are missing. A canonical name
``attributes.<name>`` carries an extra structured field the model reads as a categorical
(``ticketml.features.ATTRIBUTES_FIELD``), e.g. ``"attributes.location": "location"``. ``values`` translates raw values (compared
as trimmed strings) per field. ``timestamp_format`` is ``epoch_ms``, ``epoch_s``, ``iso`` or a
``strptime`` pattern (naive times are UTC). The built-in ``native`` mapping reads
``python -m training demo-data`` output and the snapshots ``training.database`` writes of
the database's tickets (there the helpdesk's ``final_priority`` becomes
``resolution.priority``, and open tickets carry the time they were read as ``exported_at``).
"""

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ticketml.features import ATTRIBUTES_FIELD, MAX_ATTRIBUTES, MODEL_INPUT_FIELDS

TARGET_FIELDS = ("priority", "sentiment", "resolution_hours", "solved_at", "observed_at")
CANONICAL_FIELDS = ("id", *MODEL_INPUT_FIELDS, "created_at", *TARGET_FIELDS)
TIME_FIELDS = ("created_at", "solved_at", "observed_at")
ATTRIBUTE_PREFIX = ATTRIBUTES_FIELD + "."


class MappingError(ValueError):
    """A mapping file is invalid."""


@dataclass(frozen=True)
class FieldMapping:
    """How to read canonical fields out of one source record; see the module docstring."""

    name: str
    fields: Mapping[str, object]
    values: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    timestamp_format: str = "epoch_ms"
    missing: tuple[str, ...] = ("",)
    description: str = ""

    def __post_init__(self):
        unknown = sorted(
            name for name in set(self.fields) - set(CANONICAL_FIELDS)
            if not (name.startswith(ATTRIBUTE_PREFIX) and len(name) > len(ATTRIBUTE_PREFIX)))
        if unknown:
            raise MappingError(
                f'Invalid mapping "{self.name}": unknown fields {unknown}. '
                f"Canonical fields are {list(CANONICAL_FIELDS)} and {ATTRIBUTE_PREFIX}<name>."
            )
        if len(self.attribute_names) > MAX_ATTRIBUTES:
            raise MappingError(
                f'Invalid mapping "{self.name}": {len(self.attribute_names)} attributes. '
                f"At most {MAX_ATTRIBUTES} are read by the model.")
        for name, spec in self.fields.items():
            if not (isinstance(spec, str) and spec) and not (
                isinstance(spec, Mapping) and set(spec) == {"const"}
            ):
                raise MappingError(
                    f'Invalid mapping "{self.name}" for field "{name}": {spec!r}. '
                    'Expected a source path or {"const": value}.'
                )

    @property
    def attribute_names(self) -> list[str]:
        """Names of the extra structured fields (without the ``attributes.`` prefix)."""
        return sorted(n[len(ATTRIBUTE_PREFIX):] for n in self.fields if n.startswith(ATTRIBUTE_PREFIX))

    def apply(self, record: Mapping) -> dict:
        """Return the canonical fields of one source record (missing -> None).

        Timestamps become epoch milliseconds (float) or None when unparseable; mapped
        attributes are collected under ``attributes`` (a dict, missing values as None).
        """
        row = {}
        for name in (*CANONICAL_FIELDS, *(ATTRIBUTE_PREFIX + a for a in self.attribute_names)):
            spec = self.fields.get(name)
            if spec is None:
                value = None
            elif isinstance(spec, Mapping):
                value = spec["const"]
            else:
                value = _lookup(record, spec)
            if isinstance(value, str) and value.strip() in self.missing:
                value = None
            if value is not None and name in self.values:
                value = self.values[name].get(str(value).strip(), value)
            if name in TIME_FIELDS:
                # Constants are written by the mapping's author, in ISO 8601 when strings.
                constant = isinstance(spec, Mapping) and isinstance(value, str)
                value = parse_time(value, "iso" if constant else self.timestamp_format)
            row[name] = value
        attributes = {a: row.pop(ATTRIBUTE_PREFIX + a) for a in self.attribute_names}
        row[ATTRIBUTES_FIELD] = attributes or None
        return row


NATIVE = FieldMapping(
    name="native",
    description="Demo data and database snapshots (training.database): ticket fields, outcome "
                "under resolution/, open tickets observed at exported_at.",
    fields={
        "id": "id",
        **{name: name for name in MODEL_INPUT_FIELDS},
        "created_at": "created_at",
        "priority": "resolution.priority",
        "sentiment": "annotations.sentiment",
        "solved_at": "resolution.solved_at",
        "observed_at": "exported_at",
    },
)
BUILTIN = {NATIVE.name: NATIVE}
SHIPPED_DIR = Path(__file__).resolve().parent / "mappings"
"""Mappings shipped as examples (the four public datasets); usable by bare name."""


def load_mapping(name_or_path: str | Path) -> FieldMapping:
    """Return a built-in mapping by name, or read one from a JSON file.

    Raises:
        MappingError: The name is unknown and no such file exists, or the file is invalid.
    """
    if str(name_or_path) in BUILTIN:
        return BUILTIN[str(name_or_path)]
    path = Path(name_or_path)
    if not path.suffix and (SHIPPED_DIR / f"{path}.json").is_file():
        path = SHIPPED_DIR / f"{path}.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise MappingError(
            f'Invalid mapping: "{name_or_path}". Expected a built-in name {sorted(BUILTIN)}, '
            f"a shipped one {shipped_mappings()} or a JSON file."
        ) from exc
    except json.JSONDecodeError as exc:
        raise MappingError(f'Invalid mapping file "{path}": {exc}.') from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("fields"), dict):
        raise MappingError(f'Invalid mapping file "{path}": expected an object with "fields".')
    return FieldMapping(
        name=str(doc.get("name", path.stem)),
        fields=doc["fields"],
        values=doc.get("values", {}),
        timestamp_format=doc.get("timestamp_format", "epoch_ms"),
        missing=tuple(doc.get("missing", [""])),
        description=doc.get("description", ""),
    )


def parse_time(value: object, fmt: str) -> float | None:
    """Parse a timestamp into epoch milliseconds; None if missing or unparseable."""
    if value is None or isinstance(value, bool):
        return None
    try:
        if fmt in ("epoch_ms", "epoch_s"):
            number = float(value)
            if not math.isfinite(number):
                return None
            return number if fmt == "epoch_ms" else number * 1000
        text = str(value).strip()
        if fmt == "iso":
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        else:
            parsed = datetime.strptime(text, fmt)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp() * 1000


def _lookup(record: Mapping, path: str) -> object:
    if path in record:
        return record[path]
    value: object = record
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def shipped_mappings() -> list[str]:
    """Names of the mappings in ``training/mappings/``."""
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.json"))
