"""Open protocols: when both debaters choose the same answer, the second defends the
other one; the summary reports the same-side rate and the accuracy of the choices."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from debate.analysis.report import summarize, summary_rows
from debate.core.engine import Engine, ModelBindings, plan_units
from debate.core.loading import load_protocol
from debate.core.scenarios import load_scenarios
from debate.models.base import ChatMessage, Completion, GenerateConfig
from debate.models.scripted import ScriptedModel


def always_a(_messages: Sequence[ChatMessage], config: GenerateConfig) -> Completion | str:
    if config.choices:
        logprobs = {label: (-0.1 if label == "A" else -3.0) for label in config.choices}
        return Completion(text="Answer: A", model="scripted/a", choice_logprobs=logprobs)
    return "My case stands."


def run_open_debate(limit: int) -> list[dict[str, Any]]:
    bundle = load_protocol("open-debate")
    bindings = ModelBindings({}, default="unused")
    bindings._models[("unused", None)] = ScriptedModel("scripted/a", responder=always_a)
    engine = Engine(bundle, bindings)
    scenarios = load_scenarios("truthfulqa-sample", limit=limit)
    asyncio.run(engine.run(plan_units(bundle, scenarios, seed=0)))
    assert not engine.failures
    return list(engine.records)


def test_second_debater_defends_the_other_answer_when_both_choose_the_same() -> None:
    records = run_open_debate(2)
    for record in records:
        choices = record["state"]["choices"]
        assert choices["debater_a"]["chosen"] == choices["debater_b"]["chosen"] == 0
        assert record["defends"]["debater_a"] == 0
        assert record["defends"]["debater_b"] == 1 == choices["debater_b"]["defends"]
        assert record["state"]["same_side"] is True
        system_b = next(m for m in record["messages"] if m["role"] == "debater_b")
        assert system_b  # the debate ran with both sides
    summary = summarize(records)
    assert summary["choices"]["same_side"]["value"] == 1.0
    # every pick was A: right exactly when the correct answer is at A
    at_a = sum(1 for r in records if r["correct_index"] == 0) / len(records)
    assert summary["choices"]["choice_accuracy"]["value"] == at_a
    assert summary["choices"]["choice_accuracy"]["n"] == 2 * len(records)
    labels = [row[0] for row in summary_rows(summary)[1]]
    assert "same answer chosen" in labels and "choice accuracy" in labels


def test_the_rule_is_stated_in_the_protocol_description() -> None:
    description = load_protocol("open-debate").protocol.description
    assert "same answer" in description and "other one" in description
