"""General step types for answer-improving debates: `schedule`, `vote`, `moderate`, `settle`.

MAD, Society of Minds, SocraSynth and the single-agent baseline are declarations built
from these plus the engine's own `speak` and `repeat`:

- `schedule`: sets a template variable (`ctx.variables[name]`) to the next value of a
  schedule each time it runs: `start` then multiplied, divided or shifted per run, or an
  explicit `values` list (the last value repeats), clamped to `min`/`max`. The values
  used are kept in `state.schedule[name]`.
- `vote`: reads each role's latest answer (`Answer: ...`), grades it against the
  scenario's gold answers and takes the plurality; kept in `state.votes` with the
  agreement. With `final: true` the vote is the unit's final answer; a tie or no readable
  answer is recorded as such and never counts as correct.
- `moderate`: the `check` step with a structured reply. Each judge instance returns an
  object with the declared `schema` (JSON, or `key: value` lines), validated by a
  pydantic model and retried when it does not validate; an unreadable reply is recorded
  as invalid. An instance says yes when every `fires_when` field is truthy; the stop
  rule is `check`'s. When it fires, `answer_field` becomes the final answer; `winner_of`
  makes the final answer that of the best-scored role (a tie is a tie).
- `settle`: a judge fallback for undecided units: the judge first lists the candidate
  answers (template `list`), then picks one (template `pick`); the pick is the final answer.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator

from debate.core.context import UnitContext
from debate.core.declarations import JudgeSpec, ProtocolSpec
from debate.core.moderation import Check, roles_of_kind
from debate.core.steps import Step
from debate.errors import DebateInputError
from debate.family.report import (
    grade,
    parse_candidates,
    parse_structured,
    plurality,
    read_answer,
    schema_model,
    set_final_answer,
)
from debate.models.base import ChatMessage, GenerateConfig

# ----- schedule ----------------------------------------------------------------------


class Schedule(Step):
    """Set a template variable to the next value of a schedule."""

    key: ClassVar[str] = "schedule"
    schedule: str = Field(description="the template variable it sets")
    start: float | None = None
    multiply: float | None = None
    divide: float | None = None
    add: float = 0.0
    values: list[float] | None = None
    min: float | None = None
    max: float | None = None
    digits: int = Field(default=3, ge=0)

    @model_validator(mode="after")
    def _one_way(self) -> Schedule:
        if (self.values is None) == (self.start is None):
            raise ValueError("give exactly one of 'start' or 'values'")
        if self.divide == 0:
            raise ValueError("divide must not be 0")
        if not self.schedule.isidentifier():
            raise ValueError(f"'{self.schedule}' is not a template variable name")
        return self

    def value(self, index: int) -> float:
        """The schedule's value at its `index`-th use (0-based)."""
        if self.values is not None:
            value = self.values[min(index, len(self.values) - 1)]
        else:
            assert self.start is not None
            factor = self.multiply if self.multiply is not None else 1.0
            if self.divide is not None:
                factor /= self.divide
            value = self.start * factor**index + self.add * index
        if self.min is not None:
            value = max(self.min, value)
        if self.max is not None:
            value = min(self.max, value)
        return round(value, self.digits)

    def template_variables(self) -> frozenset[str]:
        return frozenset({self.schedule})

    async def run(self, ctx: UnitContext) -> None:
        used = ctx.state.setdefault("schedule", {}).setdefault(self.schedule, [])
        value = self.value(len(used))
        used.append({"round": ctx.round + 1, "value": value})
        ctx.variables[self.schedule] = value


# ----- vote --------------------------------------------------------------------------


class Vote(Step):
    """Grade each role's latest answer and take the plurality (final when `final`)."""

    key: ClassVar[str] = "vote"
    vote: list[str]
    final: bool = False

    def check(self, protocol: ProtocolSpec) -> list[tuple[str, str]]:
        return roles_of_kind("vote", self.vote, protocol, judge=False)

    async def run(self, ctx: UnitContext) -> None:
        latest = {
            m.role: m.text for m in ctx.messages if m.role in self.vote and m.kind == "speech"
        }
        answers = {role: grade(read_answer(latest.get(role)), ctx.scenario) for role in self.vote}
        keys = [answers[role]["key"] for role in self.vote]
        winner, status = plurality(keys)
        holding = sum(1 for key in keys if key is not None and key == winner)
        missing = sum(1 for key in keys if key is None)
        top = max((keys.count(k) for k in keys if k is not None), default=0)
        chosen = next((answers[r] for r in self.vote if answers[r]["key"] == winner), None)
        entry = {
            "round": ctx.round,
            "answers": answers,
            "winner": winner,
            "status": status,
            "missing": missing,
            "agreement": top / len(keys) if keys else 0.0,
            "unanimous": holding == len(keys),
        }
        ctx.state.setdefault("votes", []).append(entry)
        if self.final:
            set_final_answer(
                ctx.state,
                chosen,
                status=status,
                source="vote",
                round_=ctx.round,
                votes=len(keys) - missing,
            )


# ----- moderate ----------------------------------------------------------------------

DEFAULT_STRUCTURED_RETRY = (
    "Your reply could not be read ({problem}). Reply with only a JSON object with the keys: {keys}."
)


class Moderate(Check):
    """`check` whose judges reply with a structured object (see the module docstring)."""

    key: ClassVar[str] = "moderate"
    judges: list[str] = Field(alias="moderate", description="judge roles (YAML key `moderate`)")
    schema_: dict[str, str] = Field(alias="schema", min_length=1)
    fires_when: list[str] = Field(default_factory=list)
    answer_field: str | None = None
    winner_of: dict[str, str] = Field(default_factory=dict, description="score field -> role")
    retry_instruction: str = DEFAULT_STRUCTURED_RETRY

    @model_validator(mode="after")
    def _known_fields(self) -> Moderate:
        schema_model(self.schema_)  # raises for an unknown field type
        for field in [*self.fires_when, *self.winner_of, *filter(None, [self.answer_field])]:
            if field not in self.schema_:
                raise ValueError(f"'{field}' is not a field of the schema")
        return self

    def check(self, protocol: ProtocolSpec) -> list[tuple[str, str]]:
        problems = super().check(protocol)
        return problems + roles_of_kind("winner_of", list(self.winner_of.values()), protocol, False)

    def says_yes(self, fields: dict[str, Any] | None) -> bool | None:
        if fields is None:
            return None
        return all(bool(fields.get(name)) for name in self.fires_when)

    async def run(self, ctx: UnitContext) -> None:
        asks = [(role, i, ctx.next_seed()) for role in self.judges for i in range(self.instances)]
        replies = await asyncio.gather(*(self.ask_fields(ctx, r, s) for r, _, s in asks))
        results: list[dict[str, Any]] = []
        for (role, instance, _), (fields, raw, attempts) in zip(asks, replies, strict=True):
            results.append({"role": role, "fields": fields, "valid": fields is not None})
            ctx.add_message(
                role,
                raw,
                kind="check",
                visible_to=[],
                meta={
                    "check": self.label,
                    "instance": instance,
                    "fields": fields,
                    "answer": self.says_yes(fields),
                    "valid": fields is not None,
                    "attempts": attempts,
                },
                check_quotes_in_text=False,
            )
        answers = [self.says_yes(result["fields"]) for result in results]
        fired = self.fired(answers) if self.fires_when else False
        ctx.state.setdefault("checks", {}).setdefault(self.label, []).append(
            {"round": ctx.round, "answers": answers, "fired": fired}
        )
        ctx.state.setdefault("moderation", {}).setdefault(self.label, []).append(
            {"round": ctx.round, "results": results, "fired": fired}
        )
        valid = [result["fields"] for result in results if result["fields"] is not None]
        if self.winner_of:
            self.record_winner(ctx, valid)
        if fired and self.answer_field:
            chosen = next(f for f in valid if self.says_yes(f))
            graded = grade(str(chosen[self.answer_field]).strip() or None, ctx.scenario)
            set_final_answer(ctx.state, graded, status="ok", source=self.label, round_=ctx.round)
        if fired and self.stop_when != "never":
            ctx.stop(self.reason or self.label)

    def record_winner(self, ctx: UnitContext, valid: list[dict[str, Any]]) -> None:
        """The final answer is the one held by the role with the best mean score."""
        if not valid:
            set_final_answer(ctx.state, None, status="invalid", source=self.label, round_=ctx.round)
            return
        means = {
            role: sum(float(f[field]) for f in valid) / len(valid)
            for field, role in self.winner_of.items()
        }
        best = max(means.values())
        top = [role for role, score in means.items() if score == best]
        if len(top) > 1:
            set_final_answer(
                ctx.state, None, status="tie", source=self.label, round_=ctx.round, scores=means
            )
            return
        held = ctx.defends.get(top[0])
        if held is not None and ctx.scenario.answers:
            graded = grade(ctx.labels[held], ctx.scenario)
        else:
            latest = [m.text for m in ctx.messages if m.role == top[0] and m.kind == "speech"]
            graded = grade(read_answer(latest[-1] if latest else None), ctx.scenario)
        status = "ok" if graded["key"] is not None else "missing"
        set_final_answer(
            ctx.state,
            graded,
            status=status,
            source=self.label,
            round_=ctx.round,
            winner=top[0],
            scores=means,
        )

    async def ask_fields(
        self, ctx: UnitContext, role: str, seed: int
    ) -> tuple[dict[str, Any] | None, str, int]:
        spec = ctx.roles[role].spec
        assert isinstance(spec, JudgeSpec)
        source = spec.templates.get(self.question, "") if self.question else spec.instruction
        if not source:
            raise DebateInputError(
                f"{ctx.bundle.source}: moderate: judge '{spec.name}' has no template "
                f"'{self.question}'"
            )
        model = schema_model(self.schema_)
        chat = ctx.view(role, ctx.render(role, source))
        config = GenerateConfig(
            max_tokens=spec.ask_max_tokens,
            temperature=spec.temperature,
            seed=seed,
            epoch=ctx.epoch,
        )
        raws: list[str] = []
        for attempt in range(1, spec.retries + 2):
            completion = await ctx.complete(role, chat, config, kind="check", stream=False)
            raws.append(completion.text)
            fields, problem = parse_structured(completion.text, model)
            if fields is not None:
                return fields, completion.text, attempt
            retry = self.retry_instruction.format(problem=problem, keys=", ".join(self.schema_))
            chat = [
                *chat,
                ChatMessage(role="assistant", content=completion.text or "(no reply)"),
                ChatMessage(role="user", content=retry),
            ]
            config = replace(config, seed=ctx.next_seed())
        return None, "\n---\n".join(raws), spec.retries + 1


# ----- settle ------------------------------------------------------------------------


class Settle(Step):
    """A judge lists the candidate answers, then picks one, which becomes final."""

    key: ClassVar[str] = "settle"
    settle: str
    list_template: str = Field(default="list", alias="list")
    pick_template: str = Field(default="pick", alias="pick")
    when: Literal["undecided", "always"] = "undecided"
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def check(self, protocol: ProtocolSpec) -> list[tuple[str, str]]:
        return roles_of_kind("settle", [self.settle], protocol, judge=True)

    def template_variables(self) -> frozenset[str]:
        return frozenset({"candidates"})

    async def run(self, ctx: UnitContext) -> None:
        final = ctx.state.get("final_answer")
        if self.when == "undecided" and final is not None and final.get("status") == "ok":
            return
        role = self.settle
        spec = ctx.roles[role].spec
        assert isinstance(spec, JudgeSpec)
        missing = [t for t in (self.list_template, self.pick_template) if t not in spec.templates]
        if missing:
            raise DebateInputError(
                f"{ctx.bundle.source}: settle: judge '{spec.name}' has no template '{missing[0]}'"
            )
        config = GenerateConfig(
            max_tokens=spec.ask_max_tokens,
            temperature=spec.temperature,
            seed=ctx.next_seed(),
            epoch=ctx.epoch,
        )
        chat = ctx.view(role, ctx.render(role, spec.templates[self.list_template]))
        listing = await ctx.complete(role, chat, config, kind="check", stream=False)
        candidates = parse_candidates(listing.text)
        pick = ctx.render(role, spec.templates[self.pick_template], {"candidates": candidates})
        chat = [
            *chat,
            ChatMessage("assistant", listing.text or "(no reply)"),
            ChatMessage("user", pick),
        ]
        raws: list[str] = []
        answer = None
        for _ in range(spec.retries + 1):
            config = replace(config, seed=ctx.next_seed(), max_tokens=spec.max_tokens)
            completion = await ctx.complete(role, chat, config, kind="verdict", stream=False)
            raws.append(completion.text)
            answer = read_answer(completion.text, require_line=True)
            if answer:
                break
            chat = [
                *chat,
                ChatMessage("assistant", completion.text or "(no reply)"),
                ChatMessage("user", ctx.render(role, spec.retry_instruction)),
            ]
        meta = {
            "candidates": candidates,
            "answer": answer,
            "valid": answer is not None,
            "attempts": len(raws),
        }
        ctx.add_message(
            role,
            listing.text,
            kind="check",
            visible_to=[],
            meta={"candidates": candidates},
            check_quotes_in_text=False,
        )
        ctx.add_message(
            role,
            "\n---\n".join(raws),
            kind="check",
            visible_to=[],
            meta=meta,
            check_quotes_in_text=False,
        )
        ctx.state["settle"] = {"round": ctx.round, "candidates": candidates, "answer": answer}
        graded = grade(answer, ctx.scenario) if answer else None
        status = "ok" if answer else "invalid"
        set_final_answer(ctx.state, graded, status=status, source="judge", round_=ctx.round)
