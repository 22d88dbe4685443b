"""What the viewer shows of run directories, read fresh on every request.

`load_runs` turns run directories into one JSON-ready payload: per run its name, the
useful part of `spec.yaml`, `summary.json`, `report.md`, the plots found in it, its
records and its outstanding failures. Records are passed through every feature's
`annotate` hook (from the feature table) so features can add what only they can compute
(PBT's preference pairs, say) without the viewer importing them. A torn last line (a
run still being written) is skipped, so a running run can be viewed and reloaded.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from debate.core.store import FAILURES, TRANSCRIPTS, read_jsonl
from debate.errors import DebateInputError

PLOT_SUFFIXES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}
MAX_PLOTS = 40
MAX_PLOT_BYTES = 8 * 1024 * 1024
SPEC_KEYS = ("protocol", "seed", "scenarios", "n_scenarios", "models", "command", "source_run")
Annotator = Callable[[dict[str, Any]], dict[str, Any] | None]


def check_run_dirs(paths: Sequence[Path]) -> list[Path]:
    """The run directories, or a one-line error naming the first that is not one."""
    for path in paths:
        if not path.is_dir():
            raise DebateInputError(f"{path}: not a directory")
        if not (path / TRANSCRIPTS).exists() and not (path / "spec.yaml").exists():
            raise DebateInputError(f"{path}: no {TRANSCRIPTS} or spec.yaml (not a run directory?)")
    return list(paths)


def run_names(paths: Sequence[Path]) -> list[str]:
    """Short distinct names: the folder name, with its parent where two would clash."""
    names = [path.name or str(path) for path in paths]
    if len(set(names)) < len(names):
        names = [f"{path.parent.name}/{path.name}" for path in paths]
    return [f"{name} ({i + 1})" if names.count(name) > 1 else name for i, name in enumerate(names)]


def find_plots(directory: Path) -> list[Path]:
    """Pictures a run or a bench wrote: in the run directory and its `plots/` folder."""
    found: list[Path] = []
    for folder in (directory, directory / "plots"):
        if folder.is_dir():
            found += sorted(
                p for p in folder.iterdir() if p.suffix.lower() in PLOT_SUFFIXES and p.is_file()
            )
    return found[:MAX_PLOTS]


def _spec(directory: Path) -> dict[str, Any]:
    path = directory / "spec.yaml"
    if not path.exists():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DebateInputError(f"{path}: not readable YAML ({exc})") from None
    if not isinstance(loaded, dict):
        return {}
    return {key: loaded[key] for key in SPEC_KEYS if key in loaded}


def _json_file(path: Path) -> Any:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def _failures(directory: Path, done: set[str]) -> list[dict[str, Any]]:
    latest = {str(r.get("id")): r for r in read_jsonl(directory / FAILURES) if isinstance(r, dict)}
    return [record for unit, record in latest.items() if unit not in done]


def load_run(
    directory: Path,
    name: str,
    *,
    plot_src: Callable[[Path], str],
    annotators: Sequence[Annotator] = (),
) -> dict[str, Any]:
    """One run's part of the payload. `plot_src` says how the page gets a plot's bytes."""
    records = [r for r in read_jsonl(directory / TRANSCRIPTS) if isinstance(r, dict)]
    for record in records:
        extras: dict[str, Any] = {}
        for annotate in annotators:
            extras.update(annotate(record) or {})
        if extras:
            record["view_extras"] = extras
    report = directory / "report.md"
    summary = _json_file(directory / "summary.json")
    return {
        "name": name,
        "path": str(directory),
        "spec": _spec(directory),
        "summary": summary,
        "report": report.read_text("utf-8", errors="replace") if report.exists() else None,
        "running": (directory / "live.jsonl").exists() or summary is None,
        "plots": [
            {"name": str(plot.relative_to(directory)), "src": plot_src(plot)}
            for plot in find_plots(directory)
        ],
        "records": records,
        "failures": _failures(directory, {str(r.get("id")) for r in records}),
    }


def load_runs(
    paths: Sequence[Path],
    *,
    plot_src: Callable[[int, Path], str],
    annotators: Sequence[Annotator] = (),
) -> dict[str, Any]:
    """The payload for several runs (shown side by side when they share units)."""
    runs = []
    for index, (path, name) in enumerate(zip(paths, run_names(paths), strict=True)):

        def source(plot: Path, index: int = index, base: Path = path) -> str:
            return plot_src(index, plot.relative_to(base))

        runs.append(load_run(path, name, plot_src=source, annotators=annotators))
    return {"runs": runs}


def inline_plot(path: Path) -> str:
    """A plot as a data: URI (for the self-contained export); empty when too big."""
    data = path.read_bytes()
    if len(data) > MAX_PLOT_BYTES:
        return ""
    kind = PLOT_SUFFIXES[path.suffix.lower()]
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


def feature_annotators() -> list[Annotator]:
    """Each installed feature's `annotate` hook (features add what only they compute)."""
    from debate.core.registry import FEATURES, load_features

    load_features()
    return [f.annotate for f in FEATURES.values() if f.annotate is not None]
