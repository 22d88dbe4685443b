"""Correcting a judge's label preference: `calibrate: both-orders | content-free | auto`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from debate.analysis.report import summarize, summary_rows
from debate.core.calibration import FILLERS, averaged, calibrated, calibration_method
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


def declare(
    folder: Path, *, method: str = "logprobs", calibrate: str = "content-free", extra: str = ""
) -> Path:
    (folder / "judges").mkdir(exist_ok=True)
    (folder / "judges" / "fair.yaml").write_text(
        "name: fair\n"
        "system: |\n"
        "  Question: {{ question }}\n"
        "  {{ answer_list }}\n"
        "instruction: 'Which answer is correct? Reply as \"Answer: X\".'\n"
        f"method: {method}\n"
        f"calibrate: {calibrate}\n{extra}"
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
    priors = {tuple(r["final_verdict"]["calibration"]["prior"]) for r in records}
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
            assert verdict["calibration"] is None and verdict["raw_probs"] is None


def test_an_unknown_calibration_is_one_line(tmp_path: Path) -> None:
    protocol = declare(tmp_path, calibrate="swap")
    done = run_cli("validate", str(protocol), cwd=tmp_path)
    assert done.returncode == 2 and "calibrate" in done.stderr
    assert "Traceback" not in done.stderr


def test_both_orders_averages_a_second_reading_with_the_answers_reversed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    model = Recording()
    records = run(declare(tmp_path, calibrate="both-orders"), model)
    assert len(model.sent) == 16  # two verdict calls per unit
    for record in records:
        verdict = record["final_verdict"]
        calibration = verdict["calibration"]
        assert calibration["method"] == "both-orders"
        assert verdict["probs"] == pytest.approx(
            averaged(verdict["raw_probs"], calibration["reversed_probs"])
        )
        assert record["usage"]["judge"]["calls"] == 2
        assert len(record["prompts"]["calls"]) == 2  # both calls kept for an audit
    summary = summarize(records)
    assert summary["n_corrected"] == {"both-orders": 8}
    _, rows = summary_rows(summary)
    assert ("corrected for position (both-orders)", "8", "8") in rows
    reversed_systems = [chat[0].content for chat in model.sent[1::2]]
    assert any("A: no 0\nB: yes 0" in text for text in reversed_systems)


def test_both_orders_leaves_labels_that_do_not_name_the_answers_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    model = Recording()
    protocol = declare(tmp_path, calibrate="both-orders", extra="choices: [X, Y]\n")
    records = run(protocol, model)
    assert len(model.sent) == 8
    assert all(r["final_verdict"]["calibration"] is None for r in records)


def test_the_embedded_judge_reads_both_orders_by_default() -> None:
    """`calibrate: auto` (the bundled judges) on the embedded model is `both-orders`. On
    direct QA the reversed reading of one unit is the other unit's prompt, so the two
    units of a question read the same numbers and end as mirror images."""
    bundle = load_protocol("direct-qa")
    assert bundle.judges["qa-judge"].calibrate == "auto"
    engine = Engine(bundle, ModelBindings({}, default="local"))
    moon = ["A natural satellite of the Earth", "A hole in the sky"]
    items = [Scenario(id="moon", question="What is the Moon?", answers=moon, correct_index=0)]
    engine.run_to_end(plan_units(bundle, items, seed=0, swap=True))
    assert not engine.failures
    shown, swapped = sorted(engine.records, key=lambda record: record["swap"])
    assert shown["final_verdict"]["method"] == swapped["final_verdict"]["method"] == "logprobs"
    one, other = shown["final_verdict"], swapped["final_verdict"]
    assert one["calibration"]["method"] == other["calibration"]["method"] == "both-orders"
    assert one["calibration"]["reversed_probs"][::-1] == pytest.approx(other["raw_probs"], abs=0.01)
    assert one["probs"] == pytest.approx(other["probs"][::-1], abs=0.01)


def test_wrapped_backends_keep_their_wish(tmp_path: Path) -> None:
    """A model string's controls (`local?...`) or the call cache (`--cache`) wrap the
    backend; `auto` still follows the backend underneath."""
    from debate.core.declarations import JudgeSpec
    from debate.models.cache import CachedModel
    from debate.models.settings import ControlledModel, GenerationControls

    class Embedded(ScriptedModel):
        calibrate_verdicts = True

    spec = JudgeSpec(name="j", system="s", instruction="i")
    controls = GenerationControls(repetition_penalty=1.0)
    for inner, method in [(Embedded(), "both-orders"), (ScriptedModel(), "none")]:
        assert calibration_method(spec, inner) == method
        assert calibration_method(spec, CachedModel(inner, tmp_path)) == method
        assert calibration_method(spec, ControlledModel(inner, controls, "x")) == method
    assert calibration_method(spec.model_copy(update={"calibrate": "none"}), Embedded()) == "none"
