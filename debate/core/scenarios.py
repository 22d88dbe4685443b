"""Scenarios: the `Scenario` model, scenario-set declarations, and loading with filters.

`load_scenarios(source)` accepts a scenario-set name (resolved through `debate.core.library`),
a scenario-set YAML path, or a data path whose format `debate.core.formats`
recognises: a TruthfulQA or LOGICOM claims CSV, an NYU human-debate folder or `.json`,
or a generic `.jsonl`. Every problem surfaces as a one-line `DebateInputError` naming
the file (and line or field) and the reason.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import ErrorDetails

from debate.core.files import check_regular, load_yaml
from debate.core.formats import JSONL_KEYS, READERS, detect_format, display_path
from debate.core.library import looks_like_path, resolve
from debate.errors import DebateInputError, where


class Scenario(BaseModel):
    """One question (or claim) a protocol is run on.

    `answers` are the candidate answers shown to agents, in presentation order;
    `correct_index` points into them (None when there is no gold answer, e.g. LOGICOM).
    `fields` carries format-specific values templates may use (topic, claim, reason,
    correct_answers, incorrect_answers, ...); `metadata` carries provenance and data
    kept for later use (e.g. the recorded human rounds of an NYU debate).
    """

    id: str
    question: str
    answers: list[str] = Field(default_factory=list)
    correct_index: int | None = None
    story: str | None = None
    source: str = "custom"
    fields: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def swapped(self) -> Scenario:
        """The same scenario with the two answers presented in reverse order."""
        if len(self.answers) != 2:
            return self
        correct = None if self.correct_index is None else 1 - self.correct_index
        return self.model_copy(update={"answers": self.answers[::-1], "correct_index": correct})


Accessor = Callable[[Scenario], Any]

LOADERS = tuple(READERS)


def _field(key: str) -> Accessor:
    return lambda scenario: scenario.fields.get(key)


def _meta(key: str) -> Accessor:
    return lambda scenario: scenario.metadata.get(key)


# Filters a scenario set may declare, per loader; jsonl filters match any key in `fields`.
FILTERS: dict[str, dict[str, Accessor]] = {
    "truthfulqa": {"category": _field("category"), "type": _field("type")},
    "nyu": {
        key: _meta(key)
        for key in ("is_debate", "is_human", "included_in_paper", "status", "article_id", "title")
    },
    "logicom": {"topic": _field("topic"), "topic_id": _meta("topic_id")},
}


class ScenarioSet(BaseModel):
    """A scenario-set declaration (`scenarios/<name>.yaml`): which loader reads which file."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    description: str = ""
    loader: str
    path: str
    fields: dict[str, str] = Field(default_factory=dict)
    filters: dict[str, Any] = Field(default_factory=dict)
    limit: int | None = Field(default=None, ge=1)
    _file: Path | None = PrivateAttr(default=None)

    @field_validator("loader")
    @classmethod
    def _known_loader(cls, value: str) -> str:
        if value not in LOADERS:
            raise ValueError(f"unknown loader '{value}' (known: {', '.join(LOADERS)})")
        return value

    @field_validator("fields")
    @classmethod
    def _fields_fit_loader(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        loader = info.data.get("loader")
        if value and loader not in (None, "jsonl"):
            raise ValueError(f"only the jsonl loader takes a field mapping, not '{loader}'")
        unknown = sorted(set(value) - set(JSONL_KEYS))
        if unknown:
            raise ValueError(f"unknown field '{unknown[0]}' (known: {', '.join(JSONL_KEYS)})")
        return value

    @field_validator("filters")
    @classmethod
    def _filters_fit_loader(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        loader = info.data.get("loader")
        known = FILTERS.get(loader or "")
        for key, wanted in value.items():
            if known is not None and key not in known:
                names = ", ".join(known)
                raise ValueError(f"unknown filter '{key}' for loader '{loader}' (known: {names})")
            options = wanted if isinstance(wanted, list) else [wanted]
            if not all(isinstance(option, str | int | float | bool) for option in options):
                raise ValueError(f"filter '{key}': expected a value or a list of values")
        return value

    def source_file(self) -> str:
        """The YAML file this set was read from, as shown in error lines."""
        return display_path(self._file) if self._file else f"<scenario set {self.name}>"

    def data_path(self) -> Path:
        """The data file or folder, relative to the folder of the YAML file."""
        folder = self._file.parent if self._file else Path.cwd()
        return (folder / Path(self.path).expanduser()).resolve()


def _error_line(file: str, error: ErrorDetails) -> str:
    loc = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"])
    reasons = {"missing": "missing", "extra_forbidden": "unknown field"}
    reason = reasons.get(error["type"], error["msg"].removeprefix("Value error, "))
    return where(file, loc.lstrip(".") or None, reason)


def load_scenario_set_file(path: str | Path) -> ScenarioSet:
    """Parse and validate a scenario-set YAML; every problem becomes one error line."""
    path = Path(path)
    shown = display_path(path)
    data = load_yaml(path, shown)
    if not isinstance(data, dict):
        raise DebateInputError(where(shown, None, "expected a mapping (name, loader, path, ...)"))
    try:
        scenario_set = ScenarioSet.model_validate(data)
    except ValidationError as exc:
        raise DebateInputError(*(_error_line(shown, error) for error in exc.errors())) from None
    scenario_set._file = path
    if not scenario_set.name:
        scenario_set.name = path.stem
    return scenario_set


def validate_scenario_set(path: str | Path) -> list[str]:
    """Problem lines for one scenario-set YAML (declaration and data); empty when valid."""
    try:
        load_scenario_set(load_scenario_set_file(path))
    except DebateInputError as exc:
        return exc.lines
    return []


def load_scenarios(
    source: str | Path, *, limit: int | None = None, seed: int = 0
) -> list[Scenario]:
    """Scenarios from a scenario-set name, a scenario-set YAML, or a recognised data path."""
    return load_data(**_where_from(source, limit=limit, seed=seed))


def stream_scenarios(
    source: str | Path,
    *,
    limit: int | None = None,
    seed: int = 0,
    check: Callable[[Scenario], None] | None = None,
) -> ScenarioStream:
    """The scenarios of `source` as a re-readable stream (see `ScenarioStream`).

    The whole source is read and checked once now (ids, fields, filters, and `check` on
    each scenario), so bad data fails before anything runs, as with `load_scenarios`."""
    stream = ScenarioStream(_where_from(source, limit=limit, seed=seed))
    stream.count = sum(1 for scenario in _scan(**stream.where, check=check))
    return stream


def _where_from(source: str | Path, *, limit: int | None, seed: int) -> dict[str, Any]:
    """The `load_data` arguments that a scenario source names."""
    text = str(source)
    path = Path(text).expanduser()
    if looks_like_path(text) or path.suffix:
        if not path.exists():
            raise DebateInputError(where(text, None, "no such file or folder"))
        if not path.is_dir():
            check_regular(path, text)
        if path.suffix.lower() in (".yaml", ".yml"):
            return _set_where(load_scenario_set_file(path), limit=limit, seed=seed)
        return {"path": path, "limit": limit, "seed": seed}
    try:
        declaration = resolve("scenarios", text)
    except DebateInputError:
        if path.exists():
            return {"path": path, "limit": limit, "seed": seed}
        raise
    return _set_where(load_scenario_set_file(declaration), limit=limit, seed=seed)


def load_scenario_set(
    scenario_set: ScenarioSet, *, limit: int | None = None, seed: int = 0
) -> list[Scenario]:
    """The scenarios a declaration selects: its loader, filters and limit (the smaller wins)."""
    return load_data(**_set_where(scenario_set, limit=limit, seed=seed))


def _set_where(scenario_set: ScenarioSet, *, limit: int | None, seed: int) -> dict[str, Any]:
    data = scenario_set.data_path()
    if not data.exists():
        shown = scenario_set.source_file()
        raise DebateInputError(
            where(shown, "path", f"no such file or folder '{scenario_set.path}'")
        )
    limits = [value for value in (limit, scenario_set.limit) if value is not None]
    return {
        "path": data,
        "loader": scenario_set.loader,
        "limit": min(limits) if limits else None,
        "seed": seed,
        "fields": scenario_set.fields,
        "filters": scenario_set.filters,
    }


@dataclass
class ScenarioStream:
    """Scenarios read from their source again on each iteration, one at a time.

    A run of a million units must not hold its scenarios: the stream holds where they
    come from and how many there are, and re-reads the source (checked once when the
    stream was made) whenever it is iterated."""

    where: dict[str, Any]
    count: int = 0

    def __iter__(self) -> Iterator[Scenario]:
        return _scan(**self.where, check_ids=False)

    def __len__(self) -> int:
        return self.count


def load_data(
    path: str | Path,
    *,
    loader: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    fields: dict[str, str] | None = None,
    filters: dict[str, Any] | None = None,
) -> list[Scenario]:
    """Read scenarios from a data file or folder, then apply filters and the limit."""
    return list(_scan(path, loader=loader, limit=limit, seed=seed, fields=fields, filters=filters))


def _scan(
    path: str | Path,
    *,
    loader: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    fields: dict[str, str] | None = None,
    filters: dict[str, Any] | None = None,
    check: Callable[[Scenario], None] | None = None,
    check_ids: bool = True,
) -> Iterator[Scenario]:
    """The scenarios of a data path, read, validated, filtered and limited one at a time.

    Duplicate ids are refused unless `check_ids` is off (a source checked before)."""
    path = Path(path)
    if not path.is_dir():
        check_regular(path, display_path(path))
    loader = loader or detect_format(path)
    reader = READERS[loader]
    shown = display_path(path)
    accessors = FILTERS.get(loader, {})
    wanted = {
        key: value if isinstance(value, list) else [value] for key, value in (filters or {}).items()
    }
    seen: set[str] = set()
    kept = 0
    total = 0
    try:
        for record in reader(path, seed, fields or {}):
            scenario = Scenario.model_validate(record)
            scenario.metadata.setdefault("file", shown)  # for errors found later
            total += 1
            if check_ids:
                if scenario.id in seen:
                    raise DebateInputError(
                        where(shown, "id", f"duplicate scenario id '{scenario.id}'")
                    )
                seen.add(scenario.id)
            if all(
                accessors.get(key, _field(key))(scenario) in options
                for key, options in wanted.items()
            ):
                if check is not None:
                    check(scenario)
                kept += 1
                yield scenario
            if limit is not None and kept >= limit:
                break
    except UnicodeDecodeError:
        raise DebateInputError(where(shown, None, "not UTF-8 text")) from None
    except OSError as exc:
        raise DebateInputError(where(shown, None, f"cannot read ({exc.strerror})")) from None
    except csv.Error as exc:
        raise DebateInputError(where(shown, None, f"malformed CSV ({exc})")) from None
    if total == 0:
        raise DebateInputError(where(shown, None, "no scenarios found"))
    if not kept:
        raise DebateInputError(where(shown, "filters", "no scenario matches the filters"))
