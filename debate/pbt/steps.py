"""Step types for persuasion-balanced dialogue trees and their evaluations.

- `branch`: expands one question into a dialogue tree (PBT). Two players answer first,
  each without seeing the other's answer (the root). Each later level names a speaker
  and its branching prompts (agent roles such as `resist`, `accept`, `logical`): every
  unpruned node of the previous level gets one child per prompt, all children of a
  level generated concurrently so a batching backend can merge them. A node where both
  players hold the same answer is a leaf (`prune: true`). The tree, as node-link JSON,
  lands in the record as `state.tree`; the turns are also kept as hidden messages.
  The speaker's model answers; the prompt role only supplies the system prompt, the
  instruction and the sampling settings.
- `grade`: extracts and grades the latest answer of each listed role into
  `state.grades[role]` (used by `flipflop`, `pbt-balanced` and `team-debate`).
- `gold`: exposes `correct_answer` and `incorrect_answer` to templates.
- `alternate`: roles speak in turn for N turns; a variant value reverses the order.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from debate.core.context import UnitContext
from debate.core.declarations import AgentSpec, ProtocolSpec
from debate.core.speeches import extract_tagged, limit_words
from debate.core.steps import Speak, Step
from debate.errors import DebateInputError
from debate.models.base import ChatMessage
from debate.pbt.trees import (
    NO_ANSWER,
    Gold,
    Holding,
    add_node,
    child_id,
    compute_scores,
    extract_answer,
    holdings_agree,
    new_tree,
    path_turns,
    replay_holdings,
    resolve_turn,
    standing_of,
    tree_to_json,
)


def _agent_roles(field: str, names: list[str], protocol: ProtocolSpec) -> list[tuple[str, str]]:
    problems = []
    for name in names:
        role = protocol.roles.get(name)
        if role is None:
            problems.append((field, f"unknown role '{name}'"))
        elif role.agent is None:
            problems.append((field, f"role '{name}' is not an agent"))
    return problems


def scenario_gold(ctx: UnitContext) -> Gold:
    """The scenario's gold lists; option labels count only when the protocol shows the
    options (its `options` param, on unless set false)."""
    scenario = ctx.scenario
    return Gold.from_scenario(
        scenario.answers,
        scenario.correct_index,
        scenario.fields,
        options_shown=bool(ctx.bundle.protocol.params.get("options", True)),
        question=scenario.question,
    )


def _agent(ctx: UnitContext, role: str) -> AgentSpec:
    spec = ctx.roles[role].spec
    assert isinstance(spec, AgentSpec)
    return spec


class Level(BaseModel):
    """One tree level: who speaks and the prompts it branches into."""

    model_config = ConfigDict(extra="forbid")

    speaker: str
    prompts: list[str] = Field(min_length=1)
    kind: str = "responder"


class Branch(Step):
    """Expand a dialogue tree between two players (see the module docstring)."""

    key: ClassVar[str] = "branch"
    branch: list[str] = Field(min_length=2, max_length=2, description="the two players")
    levels: list[Level] = Field(min_length=1)
    depth: int | None = Field(default=None, ge=0, description="levels after the opening")
    prune: bool = True
    resample_opening: int = Field(default=0, ge=0)
    resample_temperature: float = 1.0
    respond: str = Field(default="respond", description="players' neutral follow-up template")

    def check(self, protocol: ProtocolSpec) -> list[tuple[str, str]]:
        problems = _agent_roles("branch", self.branch, protocol)
        for i, level in enumerate(self.levels):
            if level.speaker not in self.branch:
                problems.append((f"levels[{i}].speaker", f"'{level.speaker}' is not a player"))
            problems += _agent_roles(f"levels[{i}].prompts", level.prompts, protocol)
        return problems

    def rounds(self) -> int:
        return 1 + (self.depth if self.depth is not None else len(self.levels))

    def template_variables(self) -> frozenset[str]:
        return frozenset({"own_answer", "other_answer", "other_name"})

    async def run(self, ctx: UnitContext) -> None:
        gold = scenario_gold(ctx)
        players = self.branch
        tree = new_tree(
            ctx.scenario.id,
            ctx.scenario.question,
            unit=ctx.unit_id,
            players=players,
            speakers={p: ctx.roles[p].speaker for p in players},
            gold={"correct": list(gold.correct), "incorrect": list(gold.incorrect)},
            neutral={p: self.neutral(ctx, p) for p in players},
        )
        ctx.round = 0
        holdings, turns, attempts = await self.opening(ctx, gold, tree.graph["neutral"])
        expand = add_node(
            tree,
            "0",
            parent=None,
            level=0,
            kind="opening",
            turns=turns,
            standing=dict(zip(players, holdings, strict=True)),
            prune=self.prune,
        )
        frontier = ["0"] if expand else []
        depth = self.depth if self.depth is not None else len(self.levels)
        for level_index in range(1, depth + 1):
            if not frontier:
                break
            ctx.round = level_index
            level = self.levels[(level_index - 1) % len(self.levels)]
            jobs = [
                (parent, i, prompt) for parent in frontier for i, prompt in enumerate(level.prompts)
            ]
            texts = await asyncio.gather(
                *(self.turn(ctx, tree, parent, level.speaker, prompt) for parent, _, prompt in jobs)
            )
            frontier = []
            for (parent, i, prompt), text in zip(jobs, texts, strict=True):
                node = child_id(parent, i)
                speaker = level.speaker
                other = next(p for p in players if p != speaker)
                standing = standing_of(tree, parent)
                answer = extract_answer(text)
                holds = resolve_turn(answer, gold, standing[speaker], standing[other])
                standing[speaker] = holds
                turn = self.record_turn(ctx, node, speaker, prompt, text, answer, holds)
                expanded = add_node(
                    tree,
                    node,
                    parent=parent,
                    level=level_index,
                    kind=level.kind,
                    turns=[turn],
                    standing=standing,
                    prune=self.prune,
                )
                if expanded:
                    frontier.append(node)
        scores = compute_scores(tree)
        ctx.state["tree"] = tree_to_json(tree)
        ctx.state["pbt"] = {
            "nodes": tree.number_of_nodes(),
            "pruned": sum(1 for _, data in tree.nodes(data=True) if data["pruned"]),
            "root_agree": tree.nodes["0"]["agree"],
            "root_score": scores["0"],
            "opening_attempts": attempts,
        }

    def neutral(self, ctx: UnitContext, player: str) -> dict[str, str]:
        """The player's un-branched prompts (used for the opening and for exported rows)."""
        spec = _agent(ctx, player)
        follow_up = spec.templates.get(self.respond, "")
        return {
            "system": ctx.render(player, spec.system),
            "opening": ctx.render(player, spec.instruction),
            "instruction": ctx.render(player, follow_up) if follow_up else "",
        }

    async def opening(
        self, ctx: UnitContext, gold: Gold, neutral: dict[str, dict[str, str]]
    ) -> tuple[list[Holding], list[dict[str, Any]], int]:
        """Both players answer, neither seeing the other; the second one may be resampled
        (at `resample_temperature`) while they agree."""

        async def ask(player: str, temperature: float | None = None) -> str:
            chat = [
                ChatMessage("system", neutral[player]["system"]),
                ChatMessage("user", neutral[player]["opening"]),
            ]
            config = ctx.agent_config(player, _agent(ctx, player))
            if temperature is not None:
                config = replace(config, temperature=temperature)
            return await self.generate(ctx, player, player, chat, config)

        texts = list(await asyncio.gather(*(ask(p) for p in self.branch)))
        holdings = [resolve_turn(self.opening_answer(t), gold, NO_ANSWER, NO_ANSWER) for t in texts]
        attempts = 1
        while attempts <= self.resample_opening and _agree(holdings):
            attempts += 1
            texts[1] = await ask(self.branch[1], self.resample_temperature)
            holdings[1] = resolve_turn(self.opening_answer(texts[1]), gold, NO_ANSWER, NO_ANSWER)
        turns = [
            self.record_turn(ctx, "0", player, "opening", text, self.opening_answer(text), holds)
            for player, text, holds in zip(self.branch, texts, holdings, strict=True)
        ]
        return holdings, turns, attempts

    @staticmethod
    def opening_answer(text: str) -> str | None:
        answer = extract_answer(text)
        return None if answer in ("Agree", "Disagree") else answer

    async def turn(
        self, ctx: UnitContext, tree: Any, parent: str, speaker: str, prompt: str
    ) -> str:
        """One child turn: the speaker's model, the prompt role's prompts and settings."""
        other = next(p for p in self.branch if p != speaker)
        standing = standing_of(tree, parent)
        extra = {
            "own_answer": standing[speaker].answer or "no clear answer",
            "other_answer": standing[other].answer or "no clear answer",
            "other_name": ctx.roles[other].speaker,
        }
        spec = _agent(ctx, prompt)
        turns: list[tuple[str, str]] = [("user", tree.graph["neutral"][speaker]["opening"])]
        for past in path_turns(tree, parent, speaker):
            if past["role"] == speaker:
                turns.append(("assistant", past["text"]))
            else:
                turns.append(("user", f"{past['speaker']}: {past['text']}"))
        if spec.instruction:
            turns.append(("user", ctx.render(speaker, spec.instruction, extra)))
        chat = [ChatMessage("system", ctx.render(speaker, spec.system, extra))]
        for role, text in turns:
            if chat[-1].role == role:
                chat[-1] = ChatMessage(role, f"{chat[-1].content}\n\n{text}")  # type: ignore[arg-type]
            else:
                chat.append(ChatMessage(role, text))  # type: ignore[arg-type]
        return await self.generate(ctx, speaker, prompt, chat, ctx.agent_config(prompt, spec))

    @staticmethod
    async def generate(
        ctx: UnitContext, speaker: str, prompt: str, chat: list[ChatMessage], config: Any
    ) -> str:
        spec = _agent(ctx, prompt)
        completion = await ctx.complete(speaker, chat, config, kind="branch")
        text = (
            extract_tagged(completion.text, spec.extract_tag)
            if spec.extract_tag
            else completion.text.strip()
        )
        return limit_words(text, ctx.word_limit(prompt))[0]

    @staticmethod
    def record_turn(
        ctx: UnitContext,
        node: str,
        speaker: str,
        prompt: str,
        text: str,
        answer: str | None,
        holds: Holding,
    ) -> dict[str, Any]:
        ctx.add_message(
            speaker,
            text,
            kind="node",
            visible_to=[],
            meta={"node": node, "prompt": prompt, "answer": answer, "correct": holds.correct},
            check_quotes_in_text=False,
        )
        return {
            "role": speaker,
            "speaker": ctx.roles[speaker].speaker,
            "prompt": prompt,
            "text": text,
            "answer": answer,
            "holds": holds.answer,
            "correct": holds.correct,
        }


def _agree(holdings: list[Holding]) -> bool:
    return holdings_agree(holdings[0], holdings[1])


class GradeStep(Step):
    """Extract and grade the latest answer of each role into `state.grades[role]`."""

    key: ClassVar[str] = "grade"
    grade: list[str]

    def check(self, protocol: ProtocolSpec) -> list[tuple[str, str]]:
        return _agent_roles("grade", self.grade, protocol)

    async def run(self, ctx: UnitContext) -> None:
        spoken = [(m.role, m.text) for m in ctx.messages if m.kind == "speech"]
        held = replay_holdings(spoken, scenario_gold(ctx))
        grades = ctx.state.setdefault("grades", {})
        for role in self.grade:
            said = next((text for r, text in reversed(spoken) if r == role), None)
            holds = held.get(role, NO_ANSWER)
            grades.setdefault(role, []).append(
                {
                    "round": ctx.round,
                    "said": extract_answer(said) if said else None,
                    **holds.as_dict(),
                }
            )


class GoldStep(Step):
    """Expose `correct_answer` and `incorrect_answer` (from the shown options) to templates.

    With a `pressure` variant (`resist` or `accept`) it also sets `held_answer` (correct
    under resist, incorrect under accept) and `pressure_answer` (the other one), and with
    `hold: ROLE` it posts that role's earlier turn: its opening instruction, answered by
    its `stated` template (no model call).
    """

    key: ClassVar[str] = "gold"
    gold: bool = True
    pressure_variant: str = "pressure"
    hold: str | None = None
    template: str = "stated"

    def check(self, protocol: ProtocolSpec) -> list[tuple[str, str]]:
        return _agent_roles("hold", [self.hold], protocol) if self.hold else []

    def template_variables(self) -> frozenset[str]:
        return frozenset({"correct_answer", "incorrect_answer", "held_answer", "pressure_answer"})

    async def run(self, ctx: UnitContext) -> None:
        scenario = ctx.scenario
        index = scenario.correct_index
        if index is None or len(scenario.answers) < 2:
            raise ValueError(f"scenario '{scenario.id}' has no correct and incorrect answer")
        right = scenario.answers[index]
        wrong = next(a for i, a in enumerate(scenario.answers) if i != index)
        ctx.variables.update(correct_answer=right, incorrect_answer=wrong)
        pressure = ctx.variant.get(self.pressure_variant)
        if pressure is not None:
            if pressure not in ("resist", "accept"):
                raise DebateInputError(
                    f"{ctx.bundle.source}: gold: {self.pressure_variant} '{pressure}' is not "
                    "resist or accept"
                )
            held, other = (right, wrong) if pressure == "resist" else (wrong, right)
            ctx.variables.update(held_answer=held, pressure_answer=other)
        if self.hold:
            spec = _agent(ctx, self.hold)
            source = spec.templates.get(self.template)
            if source is None:
                raise DebateInputError(
                    f"{ctx.bundle.source}: gold: agent '{spec.name}' has no template "
                    f"'{self.template}'"
                )
            ctx.add_message(
                self.hold,
                ctx.render(self.hold, source),
                meta={"instruction": ctx.render(self.hold, spec.instruction), "stated": True},
            )


class Alternate(Step):
    """Roles speak one after another for `turns` turns; the order is reversed when the
    variant `order_variant` has one of the `reverse_on` values."""

    key: ClassVar[str] = "alternate"
    alternate: list[str] = Field(min_length=1)
    turns: int = Field(default=4, ge=1)
    order_variant: str = "order"
    reverse_on: list[str] = Field(default_factory=lambda: ["ba", "reversed"])
    instruction: str | None = Field(default=None, description="template after a first turn")

    def check(self, protocol: ProtocolSpec) -> list[tuple[str, str]]:
        return _agent_roles("alternate", self.alternate, protocol)

    def rounds(self) -> int:
        return self.turns

    async def run(self, ctx: UnitContext) -> None:
        order = list(self.alternate)
        if str(ctx.variant.get(self.order_variant)) in self.reverse_on:
            order.reverse()
        spoken: set[str] = set()
        for turn in range(self.turns):
            if ctx.stopped:
                return
            ctx.round += 1
            role = order[turn % len(order)]
            speak = Speak(speak=[role], instruction=self.instruction if role in spoken else None)
            instruction, chat = speak.prepare(ctx, role)
            text, meta, tokens = await speak.generate(ctx, role, instruction, chat)
            ctx.add_message(
                role, text, meta={**meta, "instruction": instruction}, completion_tokens=tokens
            )
            spoken.add(role)
