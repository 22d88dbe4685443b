"""The package's shape: the layer rule, no import cycles, the feature table, the CLI's
commands, and the Python face (`debate.run`, `debate.load_run`)."""

from __future__ import annotations

import asyncio
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import networkx as nx
import pytest
import typer.main

import debate
import debate.features
from debate.cli import add_feature_commands, app
from debate.core.record import UnitRecord
from debate.core.registry import MEASURES, STEP_TYPES, load_features

ROOT = Path(__file__).resolve().parent.parent

COMMANDS_BEFORE_THE_REORGANISATION = {
    "bench", "evidence-cases", "export prefs", "fallacy-detection", "fallacy-stats",
    "family-report", "list", "logicom-stats", "pbt-eval", "replay", "report", "run",
    "serve-reward", "show-tree", "train dpo", "train grpo", "train justifiable", "validate",
    "version", "watch",
}  # fmt: skip


def test_layer_contract_holds() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is part of the dev extra"
    done = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "1 kept, 0 broken" in done.stdout


def test_no_import_cycles_counting_imports_inside_functions() -> None:
    graph = grimp.build_graph("debate", cache_dir=None)
    edges = nx.DiGraph()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            edges.add_edge(module, imported)
    cycles = [sorted(c) for c in nx.strongly_connected_components(edges) if len(c) > 1]
    assert cycles == []
    # grimp sees imports inside functions: the lazy one in debate/__init__ is an edge
    assert "debate.api" in graph.find_modules_directly_imported_by("debate")


def test_every_feature_package_is_in_the_feature_table() -> None:
    listed = {feature.name for feature in debate.features.FEATURES}
    packages = [
        info.name
        for info in pkgutil.iter_modules(debate.__path__)
        if info.ispkg and info.name not in ("core", "models", "analysis", "library")
    ]
    for name in packages:
        module = __import__(f"debate.{name}", fromlist=["FEATURE"])
        assert hasattr(module, "FEATURE"), f"debate.{name} has no FEATURE"
        assert module.FEATURE.name in listed, f"debate.{name} is not in debate.features"


def test_feature_steps_and_measures_are_registered_from_the_table() -> None:
    load_features()
    for key in ("speak", "check", "rewrite", "branch", "vote", "reveal", "settle"):
        assert key in STEP_TYPES
    assert {"logicom", "pbt-eval", "pbt-tree"} <= set(MEASURES)


def test_cli_keeps_every_command() -> None:
    add_feature_commands()
    add_feature_commands()  # idempotent: no command is added twice
    root = typer.main.get_command(app)
    names: list[str] = []
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        sub = getattr(command, "commands", None)
        names += [f"{name} {s}" for s in sub] if sub else [name]
    assert set(names) >= COMMANDS_BEFORE_THE_REORGANISATION
    assert len(names) == len(set(names))


def test_import_debate_is_light() -> None:
    code = (
        "import sys, debate; "
        "print(any(m in sys.modules for m in ('torch', 'transformers', 'debate.runner')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def test_run_and_load_run_from_python(tmp_path: Path) -> None:
    run = debate.run("debate", models="scripted", limit=3, seed=2, out=tmp_path / "a")
    records = list(run.records)
    assert len(records) == 6 and all(isinstance(r, UnitRecord) for r in records)
    assert run.summary["n_units"] == 6 and run.summary["judge_accuracy_n"] == 6
    assert run.failures == []
    same = debate.load_run(tmp_path / "a")
    assert [r.id for r in same.records] == [r.id for r in records]
    final = records[0].final()
    assert final is not None and abs(sum(final.probs or []) - 1.0) < 1e-9
    frame = run.to_pandas()
    assert len(frame) == 6 and {"correct", "probs", "messages"} <= set(frame.columns)
    assert frame["correct"].tolist() == [r.correct for r in records]
    dataset = run.to_hf_dataset()
    assert dataset.num_rows == 6 and dataset[0]["id"] == records[0].id


def test_run_inside_a_running_event_loop(tmp_path: Path) -> None:
    async def notebook_cell() -> tuple[debate.Run, debate.Run]:
        blocking = debate.run("consultancy", models="scripted", limit=2, out=tmp_path / "b")
        awaited = await debate.arun("direct-qa", models="scripted", limit=2, out=tmp_path / "c")
        return blocking, awaited

    blocking, awaited = asyncio.run(notebook_cell())
    assert blocking.summary["protocol"] == "consultancy"
    assert awaited.summary["protocol"] == "direct-qa" and len(list(awaited.records)) == 4


def test_run_rejects_unknown_options_and_missing_dirs(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="unknown option"):
        debate.run("debate", models="scripted", limt=3, out=tmp_path / "x")
    with pytest.raises(debate.errors.DebateInputError, match="not a run directory"):
        debate.load_run(tmp_path)


def test_state_as_reads_a_feature_state(tmp_path: Path) -> None:
    from pydantic import BaseModel

    class Checks(BaseModel):
        convinced: list[bool] = []

    record = UnitRecord.from_json(
        {"id": "u", "protocol": "p", "scenario_id": "s", "state": {"convinced": [True, False]}}
    )
    assert record.state_as(Checks).convinced == [True, False]
    assert record.to_json()["state"] == {"convinced": [True, False]}
