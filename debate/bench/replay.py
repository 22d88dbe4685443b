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

With `swap`, the model judges every debate in both answer orders, as `debate run` does:
in the reversed order the recorded speeches are unchanged, but the answers are listed the
other way round and the speakers are renamed so that "Debater A" is still whoever
defends the answer now labelled A (a speech that names an answer by its letter keeps
the letter it was written with). The figures then add, per group, the swap-averaged
accuracy (p(correct) averaged over the two orders, correct when above 0.5) and the
swap disagreement (the share of debates whose chosen answer changes with the order).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rich.console import Console
from rich.table import Table

from debate.analysis.metrics import accuracy, swap_disagreement
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
RECORDED_ORDER = "recorded_answers"  # metadata key: the answers as the debaters saw them
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
        recorded = metadata.get(RECORDED_ORDER)
        reversed_order = recorded is not None and list(recorded) != list(ctx.scenario.answers)
        for item in metadata.get("rounds") or []:
            kind = next((k for k in SPEECH_ROUNDS if isinstance(item, dict) and k in item), None)
            if kind is None:
                continue
            speeches = item[kind].get("speeches") or {}
            ctx.round += 1
            for key in sorted(speeches, key=str):
                speech = speeches[key]
                index = int(key)
                if reversed_order and index < 2:
                    index = 1 - index  # the answer this speaker defends, in the order shown
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
    swap: bool = False


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
            recorded = {**metadata, RECORDED_ORDER: list(scenario.answers)}
            chosen.append(scenario.model_copy(update={"metadata": recorded}))
    if options.limit is not None:
        chosen = chosen[: options.limit]
    if not chosen:
        raise DebateInputError(f"{options.path}: no finished debate with a human verdict matches")
    return chosen


@dataclass
class Judged:
    """The model judge on one debate: its verdict in each order judged."""

    correct: list[bool]  # one per order (invalid counts as wrong)
    p_correct: list[float | None]  # None for an invalid verdict
    chosen: list[str | None]  # the chosen answer's text, whatever its position

    @property
    def swap_averaged(self) -> bool:
        """Correct when p(correct) averaged over the orders is above 0.5."""
        if any(p is None for p in self.p_correct):
            return False
        return sum(p for p in self.p_correct if p is not None) / len(self.p_correct) > 0.5


def _judged(records: list[dict[str, Any]]) -> dict[str, Judged]:
    by_id: dict[str, Judged] = {}
    for record in sorted(records, key=lambda r: bool(r.get("swap"))):
        final = record.get("final_verdict") or {}
        valid = bool(final.get("valid")) and record.get("correct_index") is not None
        chosen = final.get("chosen") if valid else None
        entry = by_id.setdefault(record["scenario_id"], Judged([], [], []))
        entry.correct.append(bool(record["correct"]))
        entry.p_correct.append(float(final["probs"][record["correct_index"]]) if valid else None)
        entry.chosen.append(record["answers"][chosen] if chosen is not None else None)
    return by_id


def run_model_judge(
    scenarios: list[Scenario], options: ReplayOptions, console: Console | None
) -> dict[str, Judged]:
    """Judge each debate with the model (in both answer orders with `swap`)."""
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
            "swap": options.swap,
            "resolved": bundle.resolved(),
        }
    )
    plans = plan_units(bundle, scenarios, swap=options.swap)
    engine = Engine(bundle, bindings, store=store, concurrency=options.concurrency)

    try:
        engine.run_to_end(plans)
    finally:
        store.close()
    if console is not None:
        console.print(f"model-judge run directory: {out}", markup=False, highlight=False)
    return _judged(list(store.records()))


def _group(
    scenarios: list[Scenario], model: dict[str, Judged] | None, swap: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """({human_judge_accuracy, model_judge_accuracy, n} by protocol, the same with CIs;
    with `swap`, also the model's swap-averaged accuracy and swap disagreement).

    The model's accuracy counts every order judged (CIs resample whole debates)."""
    figures: dict[str, Any] = {"human_judge_accuracy": {}, "model_judge_accuracy": {}, "n": {}}
    if swap:
        figures["model_judge_swap_averaged_accuracy"] = {}
        figures["model_judge_swap_disagreement"] = {}
    estimates: dict[str, Any] = {}
    missing = Judged([False], [None], [None])  # a debate the model never judged
    for protocol in PROTOCOLS:
        members = [
            s for s in scenarios if bool(s.metadata.get("is_debate")) == (protocol == "debate")
        ]
        human = accuracy([bool(human_correct(s)) for s in members])
        figures["human_judge_accuracy"][protocol] = human.value
        figures["n"][protocol] = len(members)
        estimates[protocol] = {"human": human, "model": None}
        if model is None:
            figures["model_judge_accuracy"][protocol] = None
            continue
        judged = [(s.id, model.get(s.id, missing)) for s in members]
        per_order = accuracy(
            [ok for _, j in judged for ok in j.correct],
            clusters=[sid for sid, j in judged for _ in j.correct],
        )
        figures["model_judge_accuracy"][protocol] = per_order.value
        estimates[protocol]["model"] = per_order
        if swap:
            averaged = accuracy([j.swap_averaged for _, j in judged])
            pairs = [
                (j.chosen[0], j.chosen[1])
                for _, j in judged
                if len(j.chosen) == 2 and None not in j.chosen
            ]
            figures["model_judge_swap_averaged_accuracy"][protocol] = averaged.value
            figures["model_judge_swap_disagreement"][protocol] = swap_disagreement(pairs).as_dict()
            estimates[protocol]["swap_averaged"] = averaged
    return figures, estimates


def replay(options: ReplayOptions, console: Console | None = None) -> dict[str, Any]:
    """Human vs model judge accuracy, in the `--json` shape (plus `_estimates` with CIs)."""
    scenarios = select_debates(options)
    model = run_model_judge(scenarios, options, console) if options.judge else None
    result, estimates = _group(scenarios, model, options.swap)
    result["by_debaters"] = {}
    by_estimates = {}
    for label, is_human in DEBATERS.items():
        members = [s for s in scenarios if s.metadata.get("is_human") is is_human]
        result["by_debaters"][label], by_estimates[label] = _group(members, model, options.swap)
    printable = {"all": estimates, **by_estimates}
    return {**result, "_estimates": printable} if console is not None else result


def print_replay(result: dict[str, Any], console: Console) -> None:
    swapped = "model_judge_swap_averaged_accuracy" in result
    table = Table(title="NYU replay: judge accuracy (95% bootstrap CI)")
    headers = ["debaters", "protocol", "n", "human judge", "model judge"]
    if swapped:
        headers[-1] = "model judge (both orders)"
        headers.append("model judge, swap-averaged")
    for header in headers:
        table.add_column(header, justify="left" if header in ("debaters", "protocol") else "right")
    for debaters, groups in result.get("_estimates", {}).items():
        for protocol, pair in groups.items():
            model = pair["model"]
            row = [debaters, protocol, str(pair["human"].n), str(pair["human"])]
            row.append(str(model) if model else "-")
            if swapped:
                averaged = pair.get("swap_averaged")
                row.append(str(averaged) if averaged else "-")
            table.add_row(*row)
    console.print(table)
