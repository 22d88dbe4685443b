"""Replaying the NYU human-debate dataset (Michael et al. 2023) to a model judge.

Each recorded debate or consultancy becomes one unit of a protocol built here: a step
(`NyuReplay`) adds the recorded speeches, in order and up to the end, as messages of
"Debater A"/"Debater B" or "Consultant", with every quote rebuilt from its token span
(`debate.core.quotes.nyu_speech_text`) and marked verified; then the model judge gives its
verdict without ever seeing the story. The human judges' own comments are not shown (they
often state the judge's leaning).

The human judge's answer is their final belief: the distribution of the last judge
feedback that ended the debate, counted correct when p(correct) > 0.5. Debates with no
such feedback (unfinished, or judged offline only) are left out of every figure, so
human and model judges are compared on the same debates. Figures are split by protocol
(debate / consultancy) and by debater type (human / AI, the dataset's `isHuman`).
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rich.console import Console
from rich.table import Table

from debate.analysis.metrics import accuracy
from debate.core.context import UnitContext
from debate.core.declarations import AgentSpec, Bundle, ProtocolSpec, RoleSpec
from debate.core.loading import load_judge
from debate.core.quotes import QuoteCheck, nyu_speech_text
from debate.core.scenarios import Scenario, load_scenarios
from debate.core.steps import Step
from debate.errors import DebateInputError

PROTOCOLS = ("debate", "consultancy")
DEBATERS = {"human": True, "ai": False}
SPEECH_ROUNDS = ("SimultaneousSpeeches", "SequentialSpeeches")
_QUOTE = re.compile(r"<quote>(.*?)</quote>", re.S)


def human_final_belief(rounds: list[Any]) -> list[float] | None:
    """The live judge's last distribution that ended the debate, or None."""
    belief = None
    for item in rounds:
        feedback = item.get("JudgeFeedback") if isinstance(item, dict) else None
        if isinstance(feedback, dict) and feedback.get("endDebate"):
            distribution = feedback.get("distribution")
            if isinstance(distribution, list) and distribution:
                belief = [float(p) for p in distribution]
    return belief


def human_correct(scenario: Scenario) -> bool | None:
    belief = human_final_belief(scenario.metadata.get("rounds") or [])
    if belief is None or scenario.correct_index is None or scenario.correct_index >= len(belief):
        return None
    return belief[scenario.correct_index] > 0.5


def verified_quotes(text: str) -> list[QuoteCheck]:
    """Every `<quote>` of a rebuilt speech, marked verified (it came from a token span)."""
    return [
        QuoteCheck(text=m.group(1).strip(), verified=True, score=1.0, start=m.start(), end=m.end())
        for m in _QUOTE.finditer(text)
    ]


class NyuReplay(Step):
    """Adds the recorded speeches of an NYU debate (from the scenario's metadata)."""

    key: ClassVar[str] = "nyu_replay"
    nyu_replay: bool = True

    def rounds(self) -> int:
        return 0

    async def run(self, ctx: UnitContext) -> None:
        metadata = ctx.scenario.metadata
        tokens = metadata.get("story_tokens") or []
        debate = bool(metadata.get("is_debate"))
        for item in metadata.get("rounds") or []:
            kind = next((k for k in SPEECH_ROUNDS if isinstance(item, dict) and k in item), None)
            if kind is None:
                continue
            speeches = item[kind].get("speeches") or {}
            ctx.round += 1
            for key in sorted(speeches, key=str):
                speech = speeches[key]
                index = int(key)
                role = ("debater_a", "debater_b")[index] if debate and index < 2 else "consultant"
                ctx.defends[role] = index
                text = nyu_speech_text(speech.get("content") or [], tokens)
                message = ctx.add_message(
                    role,
                    text,
                    check_quotes_in_text=False,
                    meta={"recorded_speaker": speech.get("speaker"), "recorded": True},
                )
                message.quotes = verified_quotes(text)


def replay_bundle(judge_spec: str) -> Bundle:
    judge = load_judge(judge_spec)
    recorded = AgentSpec(name="recorded", system="(recorded speeches; never generated)")
    protocol = ProtocolSpec(
        name="nyu-replay",
        description="Recorded NYU debates and consultancies, judged by a model.",
        roles={
            "debater_a": RoleSpec(agent="recorded", name="Debater A"),
            "debater_b": RoleSpec(agent="recorded", name="Debater B"),
            "consultant": RoleSpec(agent="recorded", name="Consultant"),
            "judge": RoleSpec(judge=judge.name),
        },
        hidden_from={"story": ["judge"]},
        verdict="judge",
        swap=False,
        quotes="exact",
    )
    return Bundle(
        protocol=protocol,
        steps=[NyuReplay()],
        agents={"recorded": recorded},
        judges={judge.name: judge},
        source=f"<nyu replay, judge {judge.name}>",
    )


@dataclass
class ReplayOptions:
    path: Path
    judge: str | None = None
    judge_spec: str = "qa-judge"
    included_in_paper: bool = False
    status: str | None = None
    limit: int | None = None
    out: Path | None = None
    resume: bool = False
    concurrency: int = 32


def select_debates(options: ReplayOptions) -> list[Scenario]:
    """The filtered debates that have a final human judgement."""
    scenarios = load_scenarios(str(options.path))
    chosen = []
    for scenario in scenarios:
        metadata = scenario.metadata
        if options.included_in_paper and metadata.get("included_in_paper") is not True:
            continue
        status = str(metadata.get("status") or "").lower()
        if options.status and status != options.status.lower():
            continue
        if human_correct(scenario) is not None:
            chosen.append(scenario)
    if options.limit is not None:
        chosen = chosen[: options.limit]
    if not chosen:
        raise DebateInputError(f"{options.path}: no finished debate with a human verdict matches")
    return chosen


def run_model_judge(
    scenarios: list[Scenario], options: ReplayOptions, console: Console | None
) -> dict[str, bool]:
    """Judge each debate with the model; {scenario id: correct} (invalid counts as wrong)."""
    from debate.core.engine import Engine, ModelBindings, plan_units
    from debate.core.store import RunStore

    assert options.judge is not None
    bundle = replay_bundle(options.judge_spec)
    bindings = ModelBindings({"judge": options.judge}, default="scripted")
    out = options.out or Path("runs") / f"replay-{time.strftime('%Y%m%d-%H%M%S')}"
    store = RunStore(out, resume=options.resume)
    store.write_spec(
        {
            "protocol": "nyu-replay",
            "scenarios": str(options.path),
            "n_scenarios": len(scenarios),
            "models": {"judge": options.judge},
            "judge_spec": options.judge_spec,
            "resolved": bundle.resolved(),
        }
    )
    plans = plan_units(bundle, scenarios, swap=False)
    engine = Engine(bundle, bindings, store=store, concurrency=options.concurrency)

    async def go() -> None:
        try:
            await engine.run(plans)
        finally:
            await bindings.aclose()

    try:
        asyncio.run(go())
    finally:
        store.close()
    if console is not None:
        console.print(f"model-judge run directory: {out}", markup=False, highlight=False)
    return {r["scenario_id"]: bool(r["correct"]) for r in store.records()}


def _group(
    scenarios: list[Scenario], model: dict[str, bool] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """({human_judge_accuracy, model_judge_accuracy, n} by protocol, the same with CIs)."""
    figures: dict[str, Any] = {"human_judge_accuracy": {}, "model_judge_accuracy": {}, "n": {}}
    estimates: dict[str, Any] = {}
    for protocol in PROTOCOLS:
        members = [
            s for s in scenarios if bool(s.metadata.get("is_debate")) == (protocol == "debate")
        ]
        human = accuracy([bool(human_correct(s)) for s in members])
        judged = accuracy([model.get(s.id, False) for s in members]) if model is not None else None
        figures["human_judge_accuracy"][protocol] = human.value
        figures["model_judge_accuracy"][protocol] = judged.value if judged else None
        figures["n"][protocol] = len(members)
        estimates[protocol] = {"human": human, "model": judged}
    return figures, estimates


def replay(options: ReplayOptions, console: Console | None = None) -> dict[str, Any]:
    """Human vs model judge accuracy, in the `--json` shape (plus `_estimates` with CIs)."""
    scenarios = select_debates(options)
    model = run_model_judge(scenarios, options, console) if options.judge else None
    result, estimates = _group(scenarios, model)
    result["by_debaters"] = {}
    by_estimates = {}
    for label, is_human in DEBATERS.items():
        members = [s for s in scenarios if s.metadata.get("is_human") is is_human]
        result["by_debaters"][label], by_estimates[label] = _group(members, model)
    printable = {"all": estimates, **by_estimates}
    return {**result, "_estimates": printable} if console is not None else result


def print_replay(result: dict[str, Any], console: Console) -> None:
    table = Table(title="NYU replay: judge accuracy (95% bootstrap CI)")
    for header in ("debaters", "protocol", "n", "human judge", "model judge"):
        table.add_column(header, justify="left" if header in ("debaters", "protocol") else "right")
    for debaters, groups in result.get("_estimates", {}).items():
        for protocol, pair in groups.items():
            model = pair["model"]
            table.add_row(
                debaters,
                protocol,
                str(pair["human"].n),
                str(pair["human"]),
                str(model) if model else "-",
            )
    console.print(table)
