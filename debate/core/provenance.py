"""A run folder belongs to one experiment: its fingerprint, and the spec's history.

`spec.yaml` records a `fingerprint` of what defines the experiment:

- `protocol`: a hash of the protocol, agents and judges as resolved (other prompts,
  rounds or judges are another experiment);
- `scenarios`: a hash of every scenario's id, question, answers, gold answer, story and
  fields (another data set, filter or `--limit`);
- `units`: a hash of every planned unit id and its seed (the seed, the answer orders of
  `--swap`, `--variant` axes and `--repeats`);
- `seed`: the run seed, and `models`: the model string bound to each role.

Model base URLs, concurrency, caching, the live view and other run options are not part
of it: the same model may move to another server between a run and its `--resume`.
`--resume` into a folder whose fingerprint differs is refused with one line naming the
differing parts; `--resume --force` continues anyway. Either way the original spec is
kept and each resume is appended to its `history` (time, command, model bindings with
their base URLs, and, when forced, what differed).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from debate.core.declarations import Bundle
from debate.core.files import load_yaml
from debate.core.scenarios import Scenario
from debate.errors import DebateInputError

SPEC = "spec.yaml"


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Fingerprinter:
    """An experiment's fingerprint, built one scenario at a time (a million-unit run
    never holds its scenarios or unit ids): feed every scenario to `add_scenario` and
    every unit's (id, seed) to `add_units`, then take `result`. The scenario digest is
    that of the JSON list of every scenario's defining fields, in data order; the unit
    digest does not depend on the order units run in (a person judges them shuffled): it
    sums a hash per unit."""

    def __init__(self) -> None:
        self._scenarios = hashlib.sha256(b"[")
        self._first = True
        self._units = 0
        self._count = 0

    def add_scenario(self, scenario: Scenario) -> None:
        data = scenario.model_dump(
            include={"id", "question", "answers", "correct_index", "story", "fields"}
        )
        text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
        self._scenarios.update(((", " if not self._first else "") + text).encode())
        self._first = False

    def add_units(self, units: Iterable[tuple[str, int]]) -> None:
        total, count = self._units, self._count
        for unit_id, seed in units:
            digest = hashlib.blake2b(f"{unit_id}\x00{seed}".encode(), digest_size=16).digest()
            total += int.from_bytes(digest, "big")
            count += 1
        self._units, self._count = total % (1 << 128), count

    def result(self, bundle: Bundle, seed: int, models: dict[str, str]) -> dict[str, Any]:
        """The parts that define a run (see the module docstring), and their combined id."""
        scenarios = self._scenarios.copy()
        scenarios.update(b"]")
        resolved = {key: value for key, value in bundle.resolved().items() if key != "source"}
        parts: dict[str, Any] = {
            "protocol": _digest(resolved),
            "scenarios": scenarios.hexdigest()[:16],
            "units": _digest([self._count, f"{self._units:032x}"]),
            "seed": seed,
            "models": dict(sorted(models.items())),
        }
        return {"id": _digest(parts), **parts}


def experiment_fingerprint(
    bundle: Bundle,
    scenarios: Iterable[Scenario],
    units: Iterable[tuple[str, int]],
    seed: int,
    models: dict[str, str],
) -> dict[str, Any]:
    """The fingerprint of a run whose scenarios and units are at hand (see `Fingerprinter`)."""
    builder = Fingerprinter()
    for scenario in scenarios:
        builder.add_scenario(scenario)
    builder.add_units(units)
    return builder.result(bundle, seed, models)


def differences(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Human-readable differences between two fingerprints, by part."""
    found = []
    for part in ("protocol", "scenarios", "units", "seed", "models"):
        old, new = before.get(part), now.get(part)
        if old == new:
            continue
        if part == "seed":
            found.append(f"seed {old} there, {new} here")
        elif part == "models" and isinstance(old, dict) and isinstance(new, dict):
            changed = sorted(r for r in set(old) | set(new) if old.get(r) != new.get(r))
            there = ", ".join(f"{r}={old[r]}" for r in changed if r in old) or "none"
            here = ", ".join(f"{r}={new[r]}" for r in changed if r in new) or "none"
            found.append(f"models {there} there, {here} here")
        else:
            found.append(f"{part} differ" + ("" if part.endswith("s") else "s"))
    return found


def read_spec(directory: Path) -> dict[str, Any] | None:
    path = directory / SPEC
    if not path.exists():
        return None
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise DebateInputError(f"{path}: expected a mapping at the top level")
    return data


def check_resume(directory: Path, fingerprint: dict[str, Any], *, force: bool) -> list[str]:
    """The differences from the folder's recorded experiment; refused unless `force`."""
    spec = read_spec(directory) if directory.is_dir() else None
    recorded = spec.get("fingerprint") if spec else None
    if not isinstance(recorded, dict) or recorded.get("id") == fingerprint["id"]:
        return []
    found = differences(recorded, fingerprint) or ["fingerprint differs"]
    if not force:
        raise DebateInputError(
            f"--resume: {directory} holds another experiment ({'; '.join(found)}); "
            "choose another --out, or add --force to continue it anyway"
        )
    return found


def write_run_spec(
    directory: Path,
    spec: dict[str, Any],
    *,
    resume: bool,
    differs: list[str],
    bindings: dict[str, Any],
) -> None:
    """Write `spec.yaml` for a new run; on resume keep the original and append history."""
    previous = read_spec(directory) if resume else None
    if previous is None:
        content = {**spec, "history": [_entry(spec, bindings, "started", [])]}
    else:
        content = dict(previous)
        history = content.get("history")
        content["history"] = [
            *(history if isinstance(history, list) else []),
            _entry(spec, bindings, "forced resume" if differs else "resumed", differs),
        ]
        if "fingerprint" not in previous:
            content["fingerprint"] = spec["fingerprint"]
    path = directory / SPEC
    temporary = path.with_suffix(".yaml.tmp")
    text = yaml.dump(content, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True)
    temporary.write_text(text, "utf-8")
    os.replace(temporary, path)


class _PlainDumper(yaml.SafeDumper):
    """Writes a value shared by two keys twice rather than as a YAML alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _entry(
    spec: dict[str, Any], bindings: dict[str, Any], event: str, differs: list[str]
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "event": event,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": spec.get("command", ""),
        "models": bindings,
    }
    if differs:
        entry["differs"] = differs
        entry["fingerprint"] = spec["fingerprint"]
    return entry
