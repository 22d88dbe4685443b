"""Kappa against textbook values, and `debate agreement` on people and models judging the
same debates (people answering through the human backend's own queue)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from browser import ROOT

from debate.analysis.agreement import cohen_estimate, cohen_kappa, fleiss_kappa
from debate.core.engine import Engine, ModelBindings, plan_units
from debate.core.loading import load_protocol
from debate.core.scenarios import Scenario
from debate.core.store import RunStore
from debate.models.base import ChatMessage, GenerateConfig
from debate.models.human import HumanModel


def test_cohen_kappa_matches_the_textbook_example() -> None:
    # 50 items: both yes 20, yes/no 5, no/yes 10, both no 15 -> po 0.7, pe 0.5, kappa 0.4
    first = ["y"] * 25 + ["n"] * 25
    second = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(first, second) == pytest.approx(0.4)
    assert cohen_kappa(first, first) == 1.0
    assert cohen_kappa(["a", "a"], ["a", "a"]) is None  # chance agreement is already 1
    estimate = cohen_estimate(first, second)
    assert estimate.ci95 is not None and estimate.ci95[0] < 0.4 < estimate.ci95[1]


def test_fleiss_kappa_matches_the_textbook_example() -> None:
    # Fleiss (1971) as worked on Wikipedia: 10 items, 14 raters, 5 categories -> 0.210
    counts = [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]  # fmt: skip
    items = [[c for c, n in enumerate(row) for _ in range(n)] for row in counts]
    assert fleiss_kappa(items) == pytest.approx(0.20993, abs=1e-4)
    with pytest.raises(ValueError):
        fleiss_kappa([[1, 2], [1]])


SCENARIOS = [
    Scenario(id=f"q{i}", question=f"Question {i}?", answers=["yes", "no"], correct_index=i % 2)
    for i in range(6)
]

Picker = Callable[[str], list[float]]


def judged_run(out: Path, judge: str, pick: Picker) -> Path:
    """A debate run whose judge is a scripted model or a person (answered by `pick`)."""

    def model_judge(messages: list[ChatMessage], config: GenerateConfig) -> str:
        if not config.choices:
            return "I argue my side."
        probs = pick(messages[0].content)
        return f"Answer: {'AB'[probs.index(max(probs))]}"

    bundle = load_protocol("debate")
    bindings = ModelBindings(
        {"judge": judge},
        default="scripted",
        options={"responder": model_judge},
        backend_options={"human": {"port": 0, "journal_dir": str(out)}},
    )
    store = RunStore(out)
    engine = Engine(bundle, bindings, store=store)

    async def person(model: HumanModel) -> None:
        while True:
            request = model.current()
            if request is None:
                await asyncio.sleep(0.01)
                continue
            model.submit(request.number, {"probs": pick(request.messages[0].content)})

    async def go() -> None:
        roles = engine.bind_roles()
        answering = None
        if isinstance(roles["judge"].model, HumanModel):
            answering = asyncio.create_task(person(roles["judge"].model))
        try:
            await engine.run(plan_units(bundle, SCENARIOS, swap=False))
        finally:
            if answering:
                answering.cancel()
            await bindings.aclose()

    asyncio.run(go())
    store.close()
    return out


def says(first: str) -> Picker:
    """Picks answer `first` (A or B) on q0-q2 and the other on q3-q5."""

    def pick(system: str) -> list[float]:
        late = any(f"Question {i}?" in system for i in (3, 4, 5))
        choice = "AB".index(first) ^ late
        return [0.8, 0.2] if choice == 0 else [0.3, 0.7]

    return pick


def test_agreement_report_compares_people_and_models(tmp_path: Path) -> None:
    runs = [
        judged_run(tmp_path / "ana", "human/ana", says("A")),
        judged_run(tmp_path / "bo", "human/bo", says("B")),
        judged_run(tmp_path / "model", "scripted", says("A")),
    ]
    records = [json.loads(x) for x in (runs[0] / "transcripts.jsonl").read_text().splitlines()]
    assert {r["final_verdict"]["method"] for r in records} == {"human"}
    result = subprocess.run(
        [sys.executable, "-m", "debate.cli", "agreement", *map(str, runs), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["common_units"] == 6
    kinds = {row["judge"]: row["kind"] for row in figures["judges"]}
    assert kinds == {"human/ana": "human", "human/bo": "human", "scripted": "model"}
    seconds = {row["judge"]: row["seconds_per_verdict"] for row in figures["judges"]}
    assert seconds["human/ana"] is not None and seconds["scripted"] is None
    pairs = {(p["a"], p["b"]): p for p in figures["pairs"]}
    assert pairs[("human/ana", "scripted")]["agreement"] == 1.0
    assert pairs[("human/ana", "human/bo")]["agreement"] == 0.0
    assert pairs[("human/ana", "human/bo")]["cohen_kappa"]["value"] == pytest.approx(-1.0)
    assert figures["fleiss_annotators"]["judges"] == ["human/ana", "human/bo"]
    assert figures["fleiss_annotators"]["value"] == pytest.approx(-1.0)
    versus = figures["humans_vs_models"]
    assert versus["n"] == 6
    # ana and the model always agree, bo always disagrees: human mean is exactly 0.5
    assert versus["human_accuracy"]["value"] == pytest.approx(0.5)
    table = subprocess.run(
        [sys.executable, "-m", "debate.cli", "agreement", *map(str, runs)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        timeout=120,
    )
    assert "Fleiss' kappa, annotators (2)" in table.stdout
    assert "humans vs models on 6 shared units" in table.stdout
