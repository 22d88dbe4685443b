"""The step types a protocol's `rounds` are made of, registered by name.

A round item is a mapping whose key names its step type, e.g.
`{speak: [debater_a, debater_b], together: true}` or `{repeat: 2, speak: [...]}`.
Each step type is a small pydantic model with `check` (cross-references against
the protocol's roles, reported as `rounds[i].field: reason`), `rounds` (how many
speaking rounds it contributes) and `run` (what it does to a `UnitContext`).
Feature packages list their step types in the feature table (`debate.features`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from debate.core.context import UnitContext
from debate.core.declarations import AgentSpec, JudgeSpec, ProtocolSpec
from debate.core.registry import STEP_TYPES, load_features, register_step
from debate.core.speeches import limit_words, speech_text
from debate.core.together import run_together
from debate.errors import pydantic_lines
from debate.models.base import GenerateConfig

T = TypeVar("T")
MAX_REPEAT = 1000
"""The largest `repeat:` count of a step (a larger one is refused, not run for days)."""


class Step(BaseModel):
    """Base of every step type. `key` is the YAML key that selects it."""

    model_config = ConfigDict(extra="forbid")
    key: ClassVar[str] = ""

    def check(self, protocol: ProtocolSpec) -> list[tuple[str, str]]:
        """(field, reason) pairs for references this step makes that the protocol lacks."""
        return []

    def rounds(self) -> int:
        return 0

    def template_variables(self) -> frozenset[str]:
        """Names this step adds to the templates it renders or sets for later renders
        (`validate` checks every template's variables against them)."""
        return frozenset()

    def substeps(self) -> list[Step]:
        """Steps nested inside this one."""
        return []

    async def run(self, ctx: UnitContext) -> None:
        raise NotImplementedError


def parse_step(item: Any, protocol: ProtocolSpec, where: str, problems: list[str]) -> Step | None:
    """Parse one round item; problems are appended as `file: rounds[i].field: reason`."""
    path, _, field = where.partition("|")
    if not isinstance(item, dict):
        problems.append(f"{path}: {field}: expected a mapping such as {{speak: [role]}}")
        return None
    if "repeat" in item:
        chosen = "repeat"
    else:
        keys = [key for key in item if key in STEP_TYPES]
        if len(keys) != 1:
            known = ", ".join(sorted(STEP_TYPES))
            found = ", ".join(map(str, item)) or "nothing"
            reason = "more than one step type" if keys else "unknown step type"
            problems.append(f"{path}: {field}: {reason} ({found}); known: {known}")
            return None
        chosen = keys[0]
    cls: Any = STEP_TYPES[chosen]
    data = dict(item)
    if cls is Repeat:
        data = Repeat.normalise(data)
        inner = data.pop("steps")
        if not isinstance(inner, list):
            problems.append(f"{path}: {field}.steps: expected a list of steps")
            return None
        parsed = [
            parse_step(sub, protocol, f"{path}|{field}.steps[{i}]", problems)
            for i, sub in enumerate(inner)
        ]
        data["steps"] = [step for step in parsed if step is not None]
    try:
        step = cls.model_validate(data)
    except ValidationError as exc:
        problems.extend(pydantic_lines(path, exc, prefix=field))
        return None
    for sub_field, reason in step.check(protocol):
        problems.append(f"{path}: {field}.{sub_field}: {reason}")
    return step


def parse_steps(
    items: list[Any], protocol: ProtocolSpec, path: Path, problems: list[str]
) -> list[Step]:
    load_features()
    steps = [
        parse_step(item, protocol, f"{path}|rounds[{i}]", problems) for i, item in enumerate(items)
    ]
    return [step for step in steps if step is not None]


def count_rounds(steps: list[Step]) -> int:
    return sum(step.rounds() for step in steps)


async def run_steps(steps: list[Step], ctx: UnitContext) -> None:
    for step in steps:
        if ctx.stopped:
            return
        await step.run(ctx)


def unknown_roles(names: list[str], protocol: ProtocolSpec) -> list[str]:
    return [name for name in names if name not in protocol.roles]


def _role_check(
    field: str, names: list[str], protocol: ProtocolSpec, want: Callable[[Any], bool], what: str
) -> list[tuple[str, str]]:
    problems = [(field, f"unknown role '{name}'") for name in unknown_roles(names, protocol)]
    for name in names:
        role = protocol.roles.get(name)
        if role is not None and not want(role):
            problems.append((field, f"role '{name}' is not {what}"))
    return problems


# ----- built-in step types -----------------------------------------------------------


@register_step
class Speak(Step):
    """Roles speak in turn, or `together` (none sees the others' speech of this round)."""

    key: ClassVar[str] = "speak"
    speak: list[str]
    together: bool = False
    instruction: str | None = Field(default=None, description="name of an agent template")

    def check(self, protocol: ProtocolSpec) -> list[tuple[str, str]]:
        return _role_check("speak", self.speak, protocol, lambda r: r.agent is not None, "an agent")

    def rounds(self) -> int:
        return 1

    async def run(self, ctx: UnitContext) -> None:
        ctx.round += 1
        if self.together:
            prepared = [self.prepare(ctx, role) for role in self.speak]
            texts = await run_together(
                [self.generate(ctx, role, *p) for role, p in zip(self.speak, prepared, strict=True)]
            )
            for role, (instruction, _chat), (text, meta, tokens) in zip(
                self.speak, prepared, texts, strict=True
            ):
                ctx.add_message(
                    role, text, meta={**meta, "instruction": instruction}, completion_tokens=tokens
                )
        else:
            for role in self.speak:
                if ctx.stopped:
                    return
                instruction, chat = self.prepare(ctx, role)
                text, meta, tokens = await self.generate(ctx, role, instruction, chat)
                ctx.add_message(
                    role, text, meta={**meta, "instruction": instruction}, completion_tokens=tokens
                )

    def prepare(self, ctx: UnitContext, role: str) -> tuple[str, Any]:
        spec = ctx.roles[role].spec
        assert isinstance(spec, AgentSpec)
        source = spec.templates.get(self.instruction, "") if self.instruction else spec.instruction
        instruction = ctx.render(role, source) if source else ""
        return instruction, ctx.view(role, instruction)

    async def generate(
        self, ctx: UnitContext, role: str, instruction: str, chat: Any
    ) -> tuple[str, dict[str, Any], int]:
        spec = ctx.roles[role].spec
        assert isinstance(spec, AgentSpec)
        if spec.best_of > 1:
            from debate.core.bestof import best_of_n

            return await best_of_n(ctx, role, instruction, chat, spec)
        config = ctx.agent_config(role, spec)
        completion = await ctx.complete(role, chat, config)
        text = speech_text(completion, config.opening, spec.extract_tag)
        text, truncated = limit_words(text, ctx.word_limit(role))
        meta: dict[str, Any] = {"truncated": True} if truncated else {}
        if config.opening:  # empty for agents with an extract_tag
            meta["opening"] = config.opening  # declared text, not the model's
        return text, meta, completion.usage.completion_tokens


@register_step
class Ask(Step):
    """A judge asks a question (its `ask` template); everyone sees it."""

    key: ClassVar[str] = "ask"
    ask: str
    to: list[str] = Field(default_factory=list)

    def template_variables(self) -> frozenset[str]:
        return frozenset({"addressed"})

    def check(self, protocol: ProtocolSpec) -> list[tuple[str, str]]:
        problems = _role_check(
            "ask", [self.ask], protocol, lambda r: r.judge is not None, "a judge"
        )
        problems += _role_check("to", self.to, protocol, lambda r: r.agent is not None, "an agent")
        return problems

    async def run(self, ctx: UnitContext) -> None:
        spec = ctx.roles[self.ask].spec
        assert isinstance(spec, JudgeSpec)
        if spec.ask is None:
            raise ValueError(f"judge '{spec.name}' has no 'ask' template")
        addressed = [ctx.roles[name].speaker for name in self.to]
        instruction = ctx.render(self.ask, spec.ask, {"addressed": addressed})
        config = GenerateConfig(
            max_tokens=spec.ask_max_tokens,
            temperature=spec.temperature,
            seed=ctx.next_seed(),
            epoch=ctx.epoch,
        )
        completion = await ctx.complete(
            self.ask, ctx.view(self.ask, instruction), config, kind="question"
        )
        ctx.add_message(
            self.ask,
            completion.text.strip(),
            kind="question",
            meta={"instruction": instruction},
            completion_tokens=completion.usage.completion_tokens,
        )


@register_step
class VerdictStep(Step):
    """An intermediate verdict (judge feedback); the final one is the protocol's `verdict`."""

    key: ClassVar[str] = "verdict"
    verdict: str

    def check(self, protocol: ProtocolSpec) -> list[tuple[str, str]]:
        return _role_check(
            "verdict", [self.verdict], protocol, lambda r: r.judge is not None, "a judge"
        )

    async def run(self, ctx: UnitContext) -> None:
        from debate.core.judges import elicit_verdict

        await elicit_verdict(ctx, self.verdict, final=False)


@register_step
class Choose(Step):
    """Roles with `defends: choose` pick the answer they will defend (open protocols).

    With `distinct` (the default), when every chooser picks the same answer the later
    ones defend the other answers instead (the second chooser the next answer, and so
    on), so the debate never runs one-sided; `state.same_side` records that it happened
    and `state.choices` keeps each role's own pick next to what it defends."""

    key: ClassVar[str] = "choose"
    choose: list[str]
    template: str = "choose"
    distinct: bool = True

    def check(self, protocol: ProtocolSpec) -> list[tuple[str, str]]:
        problems = _role_check(
            "choose", self.choose, protocol, lambda r: r.agent is not None, "an agent"
        )
        for name in self.choose:
            role = protocol.roles.get(name)
            if role is not None and role.defends != "choose":
                problems.append(("choose", f"role '{name}' does not have 'defends: choose'"))
        return problems

    async def run(self, ctx: UnitContext) -> None:
        from debate.core.judges import choice_probabilities

        async def pick(role: str) -> None:
            spec = ctx.roles[role].spec
            assert isinstance(spec, AgentSpec)
            source = spec.templates.get(self.template)
            if source is None:
                raise ValueError(f"agent '{spec.name}' has no '{self.template}' template")
            chat = ctx.view(role, ctx.render(role, source))
            labels = ctx.labels
            config = GenerateConfig(
                max_tokens=16, seed=ctx.next_seed(), choices=tuple(labels), epoch=ctx.epoch
            )
            completion = await ctx.complete(role, chat, config, kind="choice", stream=False)
            probs = choice_probabilities(completion, labels)
            chosen = (
                max(range(len(labels)), key=lambda i: probs[i])
                if probs
                else ctx.rng.randrange(len(labels))
            )
            ctx.defends[role] = chosen
            ctx.state.setdefault("choices", {})[role] = {
                "chosen": chosen,
                "defends": chosen,
                "raw": completion.text,
                "valid": probs is not None,
            }

        await asyncio.gather(*(pick(role) for role in self.choose))
        picks = [ctx.defends[role] for role in self.choose]
        same = len(self.choose) > 1 and len(set(picks)) == 1
        ctx.state["same_side"] = same
        if same and self.distinct:
            first = picks[0]
            for offset, role in enumerate(self.choose[1:], 1):
                other = (cast(int, first) + offset) % len(ctx.labels)
                ctx.defends[role] = other
                ctx.state["choices"][role]["defends"] = other


class Repeat(Step):
    """Run the inner steps N times (stopping early if a step stops the unit)."""

    key: ClassVar[str] = "repeat"
    repeat: int = Field(ge=0, le=MAX_REPEAT)
    steps: list[Step]

    @staticmethod
    def normalise(data: dict[str, Any]) -> dict[str, Any]:
        """`{repeat: 2, speak: [...]}` is shorthand for `{repeat: 2, steps: [{speak: [...]}]}`."""
        if "steps" in data:
            return data
        inner = {key: value for key, value in data.items() if key != "repeat"}
        return {"repeat": data.get("repeat"), "steps": [inner]}

    def rounds(self) -> int:
        return self.repeat * count_rounds(self.steps)

    def substeps(self) -> list[Step]:
        return list(self.steps)

    async def run(self, ctx: UnitContext) -> None:
        for _ in range(self.repeat):
            if ctx.stopped:
                return
            await run_steps(self.steps, ctx)


register_step(Repeat)
