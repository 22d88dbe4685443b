"""Judging stored debates again: a finished run's units, a new judge, no debater calls.

`debate judge` and `debate bench` (judges sharing debates) use this. For every finished
unit of the source run, a unit is planned whose only step, `RecordedTurns`, puts the
stored messages back into the unit's context (speaker, round, visibility and checked
quotes as recorded), so the judge's view is rebuilt by the same rules as in the run: the
protocol's `hidden_from` still hides the story, and the judge sees verified and
unverified quotes marked as before. Then only the verdict steps run: intermediate
verdicts of the verdict role at the point of the transcript where they were given, and
the final verdict. Every other role is bound to `RecordedOnly`, a model that refuses to
be called, so a debater call is impossible rather than merely absent.

What a judge did inside the debate is kept as recorded: an interactive judge's questions
(consultancy) are the source judge's questions, which the new judge sees as its own
earlier turns. The output is an ordinary run directory; each record names the run and
unit it was judged from (`source_run`, `source_unit`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from debate.core.context import UnitContext
from debate.core.declarations import (
    AgentSpec,
    Bundle,
    JudgeSpec,
    PanelMember,
    PanelSpec,
    ProtocolSpec,
)
from debate.core.engine import Engine, ModelBindings, UnitPlan
from debate.core.judges import elicit_verdict
from debate.core.quotes import QuoteCheck
from debate.core.record import Message
from debate.core.scenarios import Scenario, load_scenarios
from debate.core.steps import Step, count_rounds, parse_steps
from debate.core.store import TRANSCRIPTS, read_jsonl
from debate.errors import DebateInputError
from debate.models.base import ChatMessage, Completion, DeltaCallback, GenerateConfig


class RecordedOnly:
    """The model of every role whose turns are replayed: calling it is an error."""

    name = "recorded"

    async def generate(
        self,
        messages: Sequence[ChatMessage],
        config: GenerateConfig,
        on_delta: DeltaCallback | None = None,
    ) -> Completion:
        raise RuntimeError("re-judging asked a recorded role's model for a reply")

    async def aclose(self) -> None:
        return None


@dataclass
class Source:
    """A run directory to judge again: its spec, bundle and finished records."""

    directory: Path
    spec: dict[str, Any]
    bundle: Bundle
    records: list[dict[str, Any]]

    @property
    def verdict_role(self) -> str:
        role = self.bundle.protocol.verdict
        assert role is not None
        return role


def _bundle_from_spec(directory: Path, spec: dict[str, Any]) -> Bundle:
    resolved = spec.get("resolved")
    where = directory / "spec.yaml"
    if not isinstance(resolved, dict):
        raise DebateInputError(f"{where}: resolved: missing (not a `debate run` directory?)")
    try:
        protocol = ProtocolSpec.model_validate(resolved["protocol"])
        agents = {k: AgentSpec.model_validate(v) for k, v in resolved.get("agents", {}).items()}
        judges = {k: JudgeSpec.model_validate(v) for k, v in resolved.get("judges", {}).items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise DebateInputError(f"{where}: resolved: unreadable declarations ({exc})") from exc
    return Bundle(
        protocol=protocol,
        steps=[],
        agents=agents,
        judges=judges,
        source=str(resolved.get("source", where)),
    )


def load_source(directory: Path) -> Source:
    """Read a finished (or partly finished) run directory to judge again."""
    spec_path = directory / "spec.yaml"
    if not (directory / TRANSCRIPTS).exists() or not spec_path.exists():
        raise DebateInputError(f"{directory}: not a run directory (no spec.yaml or {TRANSCRIPTS})")
    try:
        spec = yaml.safe_load(spec_path.read_text("utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DebateInputError(f"{spec_path}: unreadable ({exc})") from exc
    if not isinstance(spec, dict):
        raise DebateInputError(f"{spec_path}: expected a mapping")
    bundle = _bundle_from_spec(directory, spec)
    if bundle.protocol.verdict is None:
        raise DebateInputError(
            f"{directory}: protocol '{bundle.protocol.name}' has no verdict step to judge again"
        )
    records = list(read_jsonl(directory / TRANSCRIPTS))
    if not records:
        raise DebateInputError(f"{directory}: no finished units to judge")
    for number, record in enumerate(records, 1):
        missing = [key for key in ("id", "scenario_id", "messages") if key not in record]
        if missing or not isinstance(record.get("messages"), list):
            what = f"missing '{missing[0]}'" if missing else "'messages' is not a list"
            raise DebateInputError(f"{directory / TRANSCRIPTS}: line {number}: {what}")
    return Source(directory=directory, spec=spec, bundle=bundle, records=records)


def total_rounds(source: Source) -> int:
    """The source protocol's planned rounds (a template variable), else the most reached."""
    problems: list[str] = []
    try:
        steps = parse_steps(
            source.bundle.protocol.rounds, source.bundle.protocol, Path("spec.yaml"), problems
        )
    except DebateInputError:
        steps, problems = [], ["unparsed"]
    if not problems:
        return count_rounds(steps)
    return max(int(record.get("rounds", 0)) for record in source.records)


def _message(data: dict[str, Any]) -> Message:
    return Message(
        index=int(data["index"]),
        round=int(data.get("round", 0)),
        role=str(data["role"]),
        speaker=str(data.get("speaker", data["role"])),
        text=str(data.get("text", "")),
        kind=str(data.get("kind", "speech")),
        visible_to=data.get("visible_to"),
        quotes=[QuoteCheck.model_validate(quote) for quote in data.get("quotes") or []],
        meta=dict(data.get("meta") or {}),
    )


def _verdict_points(
    record: dict[str, Any], role: str, messages: list[Message]
) -> list[tuple[int, int]]:
    """(messages seen, round) of each intermediate verdict the verdict role gave."""
    points = []
    for verdict in record.get("verdicts") or []:
        if verdict.get("final", True) or verdict.get("role") != role:
            continue
        at = verdict.get("at_message")
        if not isinstance(at, int):  # records written before verdicts kept their position
            at = sum(1 for message in messages if message.round <= int(verdict.get("round", 0)))
        points.append((at, int(verdict.get("round", 0))))
    return points


class RecordedTurns(Step):
    """Puts a stored unit's messages back, giving the judged role's intermediate verdicts
    where they were given; the engine then asks for the final verdict."""

    key: ClassVar[str] = "recorded_turns"
    judged: str
    total: int = 0

    def rounds(self) -> int:
        return self.total

    async def run(self, ctx: UnitContext) -> None:
        record = ctx.scenario.metadata["recorded"]
        ctx.state.update(copy.deepcopy(record.get("state") or {}))
        messages = [_message(item) for item in record.get("messages") or []]
        for seen, verdict_round in _verdict_points(record, self.judged, messages):
            self._replay(ctx, messages, seen)
            ctx.round = verdict_round
            await elicit_verdict(ctx, self.judged, final=False)
        self._replay(ctx, messages, len(messages))
        ctx.round = int(record.get("rounds", ctx.round))
        reason = record.get("stop_reason")
        if reason and reason != "completed":
            ctx.stop(str(reason))  # the final verdict is still asked for, as in the run

    @staticmethod
    def _replay(ctx: UnitContext, messages: list[Message], upto: int) -> None:
        for message in messages[len(ctx.messages) : upto]:
            ctx.round = message.round
            ctx.messages.append(message)


def _reloaded_scenarios(source: Source) -> dict[str, Scenario] | None:
    """The source run's scenarios by id (for the story and fields), or None if unavailable."""
    where = source.spec.get("scenarios")
    if not isinstance(where, str):
        return None
    try:
        loaded = load_scenarios(where, seed=int(source.spec.get("seed", 0)))
    except DebateInputError:
        return None
    return {scenario.id: scenario for scenario in loaded}


def plan_units_again(source: Source, limit: int | None = None) -> list[UnitPlan]:
    """One plan per finished source unit (of its first `limit` scenarios, in record order),
    with the unit's id, seed, answer order and assignments as recorded."""
    order = list(dict.fromkeys(str(record["scenario_id"]) for record in source.records))
    kept = set(order[:limit]) if limit is not None else set(order)
    judge = source.verdict_role
    needs_story = judge not in source.bundle.protocol.hidden_from.get("story", [])
    reloaded = _reloaded_scenarios(source)
    if reloaded is None and needs_story:
        raise DebateInputError(
            f"{source.directory}: scenarios '{source.spec.get('scenarios')}' cannot be loaded "
            f"again, and the judge role '{judge}' sees the story, which records do not keep"
        )
    plans: list[UnitPlan] = []
    for record in source.records:
        scenario_id = str(record["scenario_id"])
        if scenario_id not in kept:
            continue
        original = (reloaded or {}).get(scenario_id)
        if original is not None and record.get("swap"):
            original = original.swapped()
        if original is not None and original.question != record.get("question"):
            raise DebateInputError(
                f"{source.directory}: scenario '{scenario_id}' no longer matches its record "
                f"(the data under '{source.spec.get('scenarios')}' changed)"
            )
        if original is None and needs_story:
            raise DebateInputError(
                f"{source.directory}: scenario '{scenario_id}' is missing from "
                f"'{source.spec.get('scenarios')}', and the judge sees its story"
            )
        scenario = Scenario(
            id=scenario_id,
            question=str(record.get("question", "")),
            answers=list(record.get("answers") or []),
            correct_index=record.get("correct_index"),
            story=original.story if original is not None else None,
            source=str(record.get("source", "custom")),
            fields=dict(original.fields) if original is not None else {},
            metadata={"recorded": record},
        )
        plans.append(
            UnitPlan(
                id=str(record["id"]),
                scenario=scenario,
                swap=bool(record.get("swap")),
                variant=dict(record.get("variant") or {}),
                repeat=int(record.get("repeat", 0)),
                seed=int(record.get("seed", 0)),
                defends=dict(record.get("defends") or {}),
            )
        )
    return plans


def judge_bundle(
    source: Source, models: list[str], *, judge_spec: str | None = None, aggregate: str = "mean"
) -> Bundle:
    """The source protocol with the verdict role's judge replaced (a declaration of
    `judge_spec`, else the recorded one; a panel of it when several models are given) and
    the recorded turns as its only step."""
    from debate.core.loading import load_judge

    role = source.verdict_role
    declared = source.bundle.protocol.roles[role]
    judges = dict(source.bundle.judges)
    name = str(declared.judge)
    if judge_spec is not None:
        chosen = load_judge(judge_spec)
        for member in chosen.panel.members if chosen.panel else []:
            if member.judge is not None:
                judges[member.judge] = load_judge(member.judge)
        judges[chosen.name] = chosen
        name = chosen.name
    if len(models) > 1:
        base = judges[name]
        if base.panel is not None:
            raise DebateInputError(
                f"--judge: judge '{name}' is already a panel; give it one model, not {len(models)}"
            )
        panel = JudgeSpec(
            name=f"{name}-panel",
            description=f"{len(models)} models playing {name}, aggregated by {aggregate}",
            system=base.system,
            instruction=base.instruction,
            ask=base.ask,
            panel=PanelSpec(
                members=[PanelMember(judge=name, model=model) for model in models],
                aggregate=aggregate,  # type: ignore[arg-type]
            ),
        )
        judges[panel.name] = panel
        name = panel.name
    chosen_panel = judges[name].panel
    if len(models) == 1 and chosen_panel and all(m.model for m in chosen_panel.members):
        raise DebateInputError(
            f"--judge: '{models[0]}' would not be used: judge '{name}' is a panel whose members "
            "name their own models; give --judge-spec (e.g. the members' judge declaration)"
        )
    roles = {**source.bundle.protocol.roles, role: declared.model_copy(update={"judge": name})}
    protocol = source.bundle.protocol.model_copy(update={"roles": roles})
    return Bundle(
        protocol=protocol,
        steps=[RecordedTurns(judged=role, total=total_rounds(source))],
        agents=source.bundle.agents,
        judges=judges,
        source=source.bundle.source,
    )


class JudgeOnlyBindings(ModelBindings):
    """Binds the judged role to its model and every other role to `RecordedOnly`."""

    def __init__(self, judged: str, model: str, **options: Any) -> None:
        super().__init__({judged: model}, default=model, **options)
        self.judged = judged
        self.recorded = RecordedOnly()

    def model_for(self, role: str, declared: str) -> Any:
        if role != self.judged:
            return self.recorded
        return super().model_for(role, declared)


@dataclass
class JudgingEngine(Engine):
    """The engine, with each record pointing at the unit it was judged from."""

    source: Source | None = None
    judge_model: str = ""
    _by_id: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def accept(self, ok: bool, outcome: dict[str, Any]) -> None:
        assert self.source is not None
        if not self._by_id:
            self._by_id = {str(record["id"]): record for record in self.source.records}
        recorded = self._by_id.get(str(outcome["id"]), {})
        outcome["source_run"] = str(self.source.directory.resolve())
        outcome["source_unit"] = outcome["id"]
        if ok:
            judged = self.source.verdict_role
            chosen = self.judge_model or outcome["models"][judged]
            outcome["models"] = {**recorded.get("models", {}), judged: chosen}
        super().accept(ok, outcome)
