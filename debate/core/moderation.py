"""Step types for moderated persuasion: `say`, `check` and `counter`.

General engine steps (LOGICOM and the debate family's moderators use them), registered
by name in `debate.core.steps`' registry:

- `say`: a role posts one of its agent templates as its message, without a model call
  (a scripted opening such as "I claim X because Y; are you convinced?").
- `check`: judge roles answer a yes/no question about the debate so far (or about its
  last `history` messages), each `instances` times; the answers are kept in the
  transcript (hidden from every role) and in `state.checks[name]`, and a stop rule
  (`all`, `any`, `majority` or `never`) may end the unit with `reason`. An answer that
  cannot be read after the judge's retries is recorded as invalid and never counts as a
  yes.
- `counter`: counts the rounds in which a check did not fire (`misses`) or did
  (`hits`) and stops the unit once the count passes `limit`.

`rewrite` (a helper rewrites a turn) is in `debate.core.rewrite`.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, field_validator

from debate.core.context import UnitContext, derive_seed
from debate.core.declarations import AgentSpec, JudgeSpec, ProtocolSpec
from debate.core.judges import trusted_logprobs
from debate.core.registry import register_step
from debate.core.steps import Step
from debate.errors import DebateInputError
from debate.models.base import ChatMessage, Completion, GenerateConfig

DEFAULT_CHECK_RETRY = 'Reply with exactly one word on the first line: "{yes}" or "{no}".'


def as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def roles_of_kind(
    field: str, names: list[str], protocol: ProtocolSpec, judge: bool
) -> list[tuple[str, str]]:
    problems = []
    for name in names:
        role = protocol.roles.get(name)
        if role is None:
            problems.append((field, f"unknown role '{name}'"))
        elif judge and role.judge is None:
            problems.append((field, f"role '{name}' is not a judge"))
        elif not judge and role.agent is None:
            problems.append((field, f"role '{name}' is not an agent"))
    return problems


def last_messages(ctx: UnitContext, viewer: str) -> dict[str, str]:
    """The latest message of every role that `viewer` can see, by role name."""
    return {message.role: message.text for message in ctx.visible(viewer)}


# ----- say ---------------------------------------------------------------------------


@register_step
class Say(Step):
    """A role posts a rendered template of its agent as its message (no model call)."""

    key: ClassVar[str] = "say"
    say: str
    template: str

    def check(self, protocol: ProtocolSpec) -> list[tuple[str, str]]:
        return roles_of_kind("say", [self.say], protocol, judge=False)

    async def run(self, ctx: UnitContext) -> None:
        spec = ctx.roles[self.say].spec
        assert isinstance(spec, AgentSpec)
        source = spec.templates.get(self.template)
        if source is None:
            raise DebateInputError(
                f"{ctx.bundle.source}: say: agent '{spec.name}' has no template '{self.template}'"
            )
        ctx.add_message(self.say, ctx.render(self.say, source), meta={"template": self.template})


# ----- check -------------------------------------------------------------------------


def parse_yes_no(text: str, choices: tuple[str, str]) -> bool | None:
    """True for the first choice (yes), False for the second, None when unreadable.

    Reads `Answer: X` (the last one wins) or a reply that starts with one of the choices;
    case and surrounding punctuation do not matter.
    """
    yes, no = (choice.lower() for choice in choices)
    options = "|".join(re.escape(c) for c in (yes, no))
    found = re.findall(rf"(?i)\banswer\s*[:\-]?\s*[*\"'(]*\s*({options})\b", text)
    if found:
        return found[-1].lower() == yes
    first = re.match(rf"(?i)\W*({options})\b", text.strip())
    if first:
        return first.group(1).lower() == yes
    return None


def _from_logprobs(
    completion: Completion, choices: tuple[str, str], min_label_mass: float
) -> bool | None:
    """Yes or no from the label log-probabilities, when they can be trusted."""
    probs, _ = trusted_logprobs(completion, list(choices), min_label_mass)
    if probs is None or probs[0] == probs[1]:
        return None
    return probs[0] > probs[1]


@register_step
class Check(Step):
    """Judges answer a yes/no question; a stop rule over their answers may end the unit."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    key: ClassVar[str] = "check"
    judges: list[str] = Field(alias="check", description="judge roles (YAML key `check`)")
    name: str | None = None
    instances: int = Field(default=1, ge=1)
    stop_when: Literal["all", "any", "majority", "never"] = "never"
    reason: str | None = None
    question: str | None = Field(default=None, description="name of a judge template")
    history: int | None = Field(
        default=None, ge=0, description="show the judge only the last N visible messages"
    )

    @field_validator("judges", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return as_list(value)

    @property
    def label(self) -> str:
        return self.name or self.reason or self.judges[0]

    def check(self, protocol: ProtocolSpec) -> list[tuple[str, str]]:
        return roles_of_kind("check", self.judges, protocol, judge=True)

    def fired(self, answers: list[bool | None]) -> bool:
        yes = sum(1 for answer in answers if answer is True)
        if self.stop_when == "all" or self.stop_when == "never":
            return bool(answers) and yes == len(answers)
        if self.stop_when == "any":
            return yes > 0
        return yes * 2 > len(answers)

    def template_variables(self) -> frozenset[str]:
        return frozenset({"last"})

    async def run(self, ctx: UnitContext) -> None:
        asks = [(role, i, ctx.next_seed()) for role in self.judges for i in range(self.instances)]
        results = await asyncio.gather(*(self.ask(ctx, role, seed) for role, _, seed in asks))
        answers: list[bool | None] = []
        for (role, instance, _), (answer, raw, attempts) in zip(asks, results, strict=True):
            answers.append(answer)
            ctx.add_message(
                role,
                raw,
                kind="check",
                visible_to=[],
                meta={
                    "check": self.label,
                    "instance": instance,
                    "answer": answer,
                    "valid": answer is not None,
                    "attempts": attempts,
                },
                check_quotes_in_text=False,
            )
        fired = self.fired(answers)
        entry = {"round": ctx.round, "answers": answers, "fired": fired}
        ctx.state.setdefault("checks", {}).setdefault(self.label, []).append(entry)
        if fired and self.stop_when != "never":
            ctx.stop(self.reason or self.label)

    def recent_view(self, ctx: UnitContext, role: str, instruction: str) -> list[ChatMessage]:
        """The judge's chat: its full view, or with `history` only the last N messages."""
        if self.history is None:
            return ctx.view(role, instruction)
        recent = ctx.visible(role)[-self.history :] if self.history else []
        body = "\n\n".join(f"{m.speaker}: {m.text}" for m in recent)
        system = ctx.render(role, ctx.roles[role].spec.system)
        return [
            ChatMessage(role="system", content=system),
            ChatMessage(role="user", content=f"{body}\n\n{instruction}" if body else instruction),
        ]

    async def ask(self, ctx: UnitContext, role: str, seed: int) -> tuple[bool | None, str, int]:
        spec = ctx.roles[role].spec
        assert isinstance(spec, JudgeSpec)
        choices = tuple(spec.choices or ("Yes", "No"))
        if len(choices) != 2:
            raise DebateInputError(
                f"{ctx.bundle.source}: check: judge '{spec.name}' needs two choices (yes, no)"
            )
        yes_no = (choices[0], choices[1])
        source = spec.templates.get(self.question, "") if self.question else spec.instruction
        if not source:
            raise DebateInputError(
                f"{ctx.bundle.source}: check: judge '{spec.name}' has no template '{self.question}'"
            )
        instruction = ctx.render(role, source, {"last": last_messages(ctx, role)})
        chat = self.recent_view(ctx, role, instruction)
        config = GenerateConfig(
            max_tokens=spec.max_tokens,
            temperature=spec.temperature,
            seed=seed,
            choices=yes_no if spec.method == "logprobs" else None,
            answer_prefix=spec.answer_prefix if spec.method == "logprobs" else None,
            prefill=spec.prefill,
            epoch=ctx.epoch,
        )
        raws: list[str] = []
        retry = DEFAULT_CHECK_RETRY.format(yes=yes_no[0], no=yes_no[1])
        if spec.retry_instruction != JudgeSpec.model_fields["retry_instruction"].default:
            retry = ctx.render(role, spec.retry_instruction)  # the judge's own wording
        for attempt in range(1, spec.retries + 2):
            completion = await ctx.complete(role, chat, config, kind="check", stream=False)
            text = completion.full_text
            raws.append(text)
            answer = _from_logprobs(completion, yes_no, spec.min_label_mass)
            if answer is None:
                answer = parse_yes_no(text, yes_no)
            if answer is not None:
                return answer, text, attempt
            chat = [
                *chat,
                ChatMessage(role="assistant", content=text or "(no reply)"),
                ChatMessage(role="user", content=retry),
            ]
            config = replace(
                config, seed=derive_seed(seed, attempt), choices=None, answer_prefix=None
            )
        return None, "\n---\n".join(raws), spec.retries + 1


# ----- counter -----------------------------------------------------------------------


@register_step
class CounterStep(Step):
    """Stop once the number of rounds a check missed (or hit) passes `limit`."""

    key: ClassVar[str] = "counter"
    counter: str = Field(description="the name of a check")
    limit: int = Field(ge=0)
    count: Literal["misses", "hits"] = "misses"
    reason: str

    async def run(self, ctx: UnitContext) -> None:
        entries = ctx.state.get("checks", {}).get(self.counter, [])
        want = self.count == "hits"
        total = sum(1 for entry in entries if entry["fired"] == want)
        ctx.state.setdefault("counters", {})[self.counter] = total
        if total > self.limit:
            ctx.stop(self.reason)


# ----- rewrite -----------------------------------------------------------------------
