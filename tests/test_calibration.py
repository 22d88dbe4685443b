"""Content-free calibration of judge verdicts (`calibrate: content-free`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from debate.core.calibration import FILLERS, calibrated
from debate.core.engine import Engine, ModelBindings, plan_units
from debate.core.loading import load_protocol
from debate.core.scenarios import Scenario
from debate.models import Model
from debate.models.base import ChatMessage, Completion, GenerateConfig
from debate.models.scripted import ScriptedModel

ITEMS = [
    Scenario(id=f"q{i}", question=f"Question number {i}?", answers=[f"yes {i}", f"no {i}"],
             correct_index=i % 2)
    for i in range(4)
]  # fmt: skip


def declare(folder: Path, *, method: str = "logprobs", calibrate: str = "content-free") -> Path:
    (folder / "judges").mkdir(exist_ok=True)
    (folder / "judges" / "fair.yaml").write_text(
        "name: fair\n"
        "system: |\n"
        "  Question: {{ question }}\n"
        "  {{ answer_list }}\n"
        "instruction: 'Which answer is correct? Reply as \"Answer: X\".'\n"
        f"method: {method}\n"
        f"calibrate: {calibrate}\n"
    )
    protocol = folder / "fair-qa.yaml"
    protocol.write_text(
        "name: fair-qa\nroles:\n  judge: {judge: fair}\nrounds: []\nverdict: judge\n"
    )
    return protocol


class Recording(ScriptedModel):
    """The scripted model, remembering every chat it was sent."""

    def __init__(self) -> None:
        super().__init__("scripted")
        self.sent: list[Sequence[ChatMessage]] = []

    async def generate(
        self,
        messages: Sequence[ChatMessage],
        config: GenerateConfig,
        on_delta: Callable[[str], None] | None = None,
    ) -> Completion:
        self.sent.append(list(messages))
        return await super().generate(messages, config, on_delta)


class One(ModelBindings):
    """Every role on the test's model."""

    def __init__(self, model: Model) -> None:
        super().__init__({}, default="scripted")
        self.model = model

    def model_named(self, name: str, role: str, declared: str) -> Model:
        return self.model


def run(protocol: Path, model: Model) -> list[dict[str, Any]]:
    bundle = load_protocol(str(protocol))
    engine = Engine(bundle, One(model))
    asyncio.run(engine.run(plan_units(bundle, ITEMS, seed=0, swap=True)))
    assert not engine.failures
    return list(engine.records)


def test_calibrated_divides_by_the_prior_and_renormalises() -> None:
    assert calibrated([0.6, 0.4], [0.6, 0.4]) == pytest.approx([0.5, 0.5])
    assert calibrated([0.5, 0.5], [0.8, 0.2]) == pytest.approx([0.2, 0.8])
    assert calibrated([0.2, 0.3, 0.5], [0.5, 0.25, 0.25]) == pytest.approx([1 / 9, 3 / 9, 5 / 9])


def test_one_prior_per_run_from_content_free_prompts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    model = Recording()
    records = run(declare(tmp_path), model)
    assert len(records) == 8
    priors = {tuple(r["final_verdict"]["prior"]) for r in records}
    assert len(priors) == 1, "every unit divides by the same prior"
    prior = list(priors.pop())
    assert sum(prior) == pytest.approx(1.0)
    for record in records:
        verdict = record["final_verdict"]
        assert verdict["method"] == "logprobs" and verdict["raw_probs"] is not None
        assert verdict["probs"] == pytest.approx(calibrated(verdict["raw_probs"], prior))
        assert verdict["chosen"] == verdict["probs"].index(max(verdict["probs"]))
    # one call per unit, and the three content-free prompts once for the whole run
    assert len(model.sent) == 8 + len(FILLERS)
    blank = [chat for chat in model.sent if "Question number" not in chat[0].content]
    assert len(blank) == len(FILLERS)
    for chat, filler in zip(blank, FILLERS, strict=True):
        assert chat[0].content == f"Question: {filler}\nA: {filler}\nB: {filler}".strip()
        assert len(chat) == 2 and chat[1].role == "user"
    assert sum(r["usage"]["judge"]["calls"] for r in records) == 8 + len(FILLERS)


def test_uncalibrated_and_parsed_verdicts_have_no_prior(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cases = [("logprobs", "none"), ("logprobs", "auto"), ("parse", "content-free")]
    for method, calibrate in cases:
        model = Recording()
        records = run(declare(tmp_path, method=method, calibrate=calibrate), model)
        assert len(model.sent) == 8
        for record in records:
            verdict = record["final_verdict"]
            assert verdict["method"] == method
            assert verdict["prior"] is None and verdict["raw_probs"] is None


def test_an_unknown_calibration_is_one_line(tmp_path: Path) -> None:
    protocol = declare(tmp_path, calibrate="swap")
    done = run_cli("validate", str(protocol), cwd=tmp_path)
    assert done.returncode == 2 and "calibrate" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_embedded_model_calibrates_its_verdicts_by_default() -> None:
    """`calibrate: auto` (the bundled judges) on the embedded model: one prior per run,
    read from its label log-probabilities, divides every logprob verdict."""
    bundle = load_protocol("direct-qa")
    assert bundle.judges["qa-judge"].calibrate == "auto"
    engine = Engine(bundle, ModelBindings({}, default="local"))
    moon = ["A natural satellite of the Earth", "A hole in the sky"]
    items = [Scenario(id="moon", question="What is the Moon?", answers=moon, correct_index=0)]
    engine.run_to_end(plan_units(bundle, items, seed=0, swap=True))
    assert not engine.failures
    verdicts = [record["final_verdict"] for record in engine.records]
    assert len(verdicts) == 2
    priors = {tuple(v["prior"]) for v in verdicts if v["method"] == "logprobs"}
    assert len(priors) <= 1
    for verdict in verdicts:
        if verdict["method"] == "logprobs":
            prior = verdict["prior"]
            assert len(prior) == 2 and sum(prior) == pytest.approx(1.0)
            assert verdict["probs"] == pytest.approx(calibrated(verdict["raw_probs"], prior))
        else:  # read from the text: nothing to divide
            assert verdict["prior"] is None
