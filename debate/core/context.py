"""The state of one running unit, and what each role sees of it.

`UnitContext` is what step types act on: the scenario (in this unit's answer
order), the bound roles, the messages so far, verdicts, free-form step state, and
`speak`/`complete` helpers that render a role's view, call its model, account for
usage and emit events. Views follow one rule: a role's own turns are assistant
messages (each after the instruction it answered), everyone else's are user
messages, hidden fields are removed, and judges see quotes marked as checked.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from debate.core.declarations import AgentSpec, Bundle, JudgeSpec
from debate.core.events import Event, TextDelta, TurnFinished, TurnStarted
from debate.core.panels import PanelSeat
from debate.core.quotes import check_quotes, shown_to_judge
from debate.core.record import BILLED_TOKENS, LABELS, Message, Verdict
from debate.core.scenarios import Scenario
from debate.core.speeches import (
    normalise_speech,
    quote_turn_lines,
    speaker_pattern,
)
from debate.core.templates import ENVIRONMENT, render, template_names
from debate.errors import DebateInputError
from debate.models.base import ChatMessage, Completion, GenerateConfig, Model


def derive_seed(*parts: object) -> int:
    digest = hashlib.sha256(":".join(str(part) for part in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass
class BoundRole:
    """A protocol role with its declaration, display name and model (and, for a judge
    panel, its members' seats)."""

    name: str
    speaker: str
    spec: AgentSpec | JudgeSpec
    model: Model
    params: dict[str, Any]
    seats: list[PanelSeat] = field(default_factory=list)

    @property
    def is_judge(self) -> bool:
        return isinstance(self.spec, JudgeSpec)


def answer_list(labels: Sequence[str], answers: Sequence[str]) -> str:
    """The `answer_list` template variable: one `label: answer` line per answer."""
    return "\n".join(f"{label}: {answer}" for label, answer in zip(labels, answers, strict=False))


def display_name(role: str) -> str:
    """`debater_a` -> `Debater A`."""
    return " ".join(
        part.upper() if len(part) == 1 else part.capitalize() for part in role.split("_")
    )


@dataclass
class UnitContext:
    """Everything a step may read or change while a unit runs."""

    unit_id: str
    bundle: Bundle
    scenario: Scenario
    roles: dict[str, BoundRole]
    seed: int
    emit: Callable[[Event], None]
    total_rounds: int
    epoch: int = 0
    variant: dict[str, Any] = field(default_factory=dict)
    defends: dict[str, int | None] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, dict[str, int]] = field(default_factory=dict)
    listening: bool = True  # emit turn events
    streaming: bool = False  # and text deltas, asking models to stream
    round: int = 0
    stop_reason: str | None = None
    calls: int = 0
    _rng: random.Random | None = field(default=None, repr=False)
    _judge_views: dict[int, str] = field(default_factory=dict)
    _constants: dict[str, dict[str, Any]] = field(default_factory=dict)
    _systems: dict[str, tuple[Any, str]] = field(default_factory=dict)
    _defends_cache: dict[int, dict[str, Any]] = field(default_factory=dict)
    _labels: list[str] | None = None
    _shared_constants: dict[str, Any] | None = None
    _histories: dict[str, tuple[int, list[ChatMessage]]] = field(default_factory=dict)
    _turn_pattern: re.Pattern[str] | None = None
    store_prompts: str = "verdicts"  # which calls' messages the record keeps: all, verdicts
    sent: list[tuple[str, str, int, list[ChatMessage]]] = field(default_factory=list)
    verdict_calls: list[int] = field(default_factory=list)

    @property
    def rng(self) -> random.Random:
        """The unit's seeded random generator (made on first use)."""
        if self._rng is None:
            self._rng = random.Random(self.seed)
        return self._rng

    @property
    def labels(self) -> list[str]:
        if self._labels is None:
            self._labels = list(LABELS[: len(self.scenario.answers)])
        return self._labels

    @property
    def stopped(self) -> bool:
        return self.stop_reason is not None

    def stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason

    # ----- templates -------------------------------------------------------------------

    def _unit_constants(self) -> dict[str, Any]:
        """Template variables every role of the unit shares (computed once)."""
        if self._shared_constants is None:
            scenario = self.scenario
            labels = self.labels
            self._shared_constants = {
                **ENVIRONMENT.globals,
                "question": scenario.question,
                "answers": scenario.answers,
                "labels": labels,
                "label_choices": " or ".join(labels),
                "answer_list": answer_list(labels, scenario.answers),
                "story": scenario.story,
                "fields": scenario.fields,
                "total_rounds": self.total_rounds,
                "variant": self.variant,
                "speakers": {name: other.speaker for name, other in self.roles.items()},
            }
        return self._shared_constants

    def _role_constants(self, role: str) -> dict[str, Any]:
        """Template variables of one role that do not change while the unit runs."""
        bound = self.roles[role]
        constants: dict[str, Any] = {
            **self._unit_constants(),
            "params": {**self.bundle.protocol.params, **bound.params},
            "role": role,
            "name": bound.speaker,
            "word_limit": self.word_limit(role),
        }
        for hidden_field, roles in self.bundle.protocol.hidden_from.items():
            if role in roles:
                if hidden_field.startswith("fields."):
                    fields = constants["fields"] = dict(constants["fields"])
                    fields.pop(hidden_field.removeprefix("fields."), None)
                else:
                    constants[hidden_field] = None
        return constants

    def template_variables(self, role: str) -> dict[str, Any]:
        """Every template variable of the role, as one new dict."""
        return {**self._constants_of(role), **self._changing_variables(role)}

    def _constants_of(self, role: str) -> dict[str, Any]:
        constants = self._constants.get(role)
        if constants is None:
            constants = self._constants[role] = self._role_constants(role)
        return constants

    def _changing_variables(self, role: str) -> dict[str, Any]:
        """The variables that may change while the unit runs: the round, what the role
        defends, and values steps set (hidden fields stay hidden)."""
        changing = {"round": self.round, **self._defends_variables(role)}
        if self.variables:
            changing.update(self.variables)
            for hidden_field, roles in self.bundle.protocol.hidden_from.items():
                if role in roles and hidden_field in self.variables:
                    changing[hidden_field] = None
        return changing

    def _defends_variables(self, role: str) -> dict[str, Any]:
        defended = self.defends.get(role)
        answers = self.scenario.answers
        if defended is None or not answers:
            return {}
        cached = self._defends_cache.get(defended)
        if cached is None:
            cached = self._defends_cache[defended] = self._describe_defended(defended)
        return cached

    def _describe_defended(self, defended: int) -> dict[str, Any]:
        answers = self.scenario.answers
        labels = self.labels
        others = [i for i in range(len(answers)) if i != defended]
        return {
            "my_answer": answers[defended],
            "my_label": labels[defended],
            "other_answers": [answers[i] for i in others],
            "opponent_answer": answers[others[0]] if others else "",
            "opponent_label": labels[others[0]] if others else "",
        }

    def system_prompt(self, role: str) -> str:
        """The role's rendered system prompt; re-rendered only when its inputs change."""
        source = self.roles[role].spec.system
        used = template_names(source)
        key = (
            self.round if "round" in used else None,
            self.defends.get(role),
            repr(self.variables) if self.variables else "",
        )
        cached = self._systems.get(role)
        if cached is not None and cached[0] == key:
            return cached[1]
        text = self.render(role, self.roles[role].spec.system)
        self._systems[role] = (key, text)
        return text

    def word_limit(self, role: str) -> int | None:
        return self.bundle.protocol.word_limit or getattr(self.roles[role].spec, "word_limit", None)

    def render(self, role: str, source: str, extra: dict[str, Any] | None = None) -> str:
        changing = self._changing_variables(role)
        if extra:
            changing.update(extra)
        try:
            return render(source, self._constants_of(role), overrides=changing)
        except DebateInputError as exc:  # name the role only when there is an error
            where = f"{self.bundle.source}: role '{role}' ({self.roles[role].spec.name})"
            raise DebateInputError(f"{where}: {exc}") from exc.__cause__

    @property
    def turn_pattern(self) -> re.Pattern[str]:
        """Lines inside a speech that would read as a turn of one of the unit's speakers."""
        if self._turn_pattern is None:
            names = [n for bound in self.roles.values() for n in (bound.name, bound.speaker)]
            self._turn_pattern = speaker_pattern(names)
        return self._turn_pattern

    # ----- views -----------------------------------------------------------------------

    def visible(self, role: str) -> list[Message]:
        return [m for m in self.messages if m.visible_to is None or role in m.visible_to]

    def _shown_to_judge(self, message: Message) -> str:
        shown = self._judge_views.get(message.index)
        if shown is None:
            shown = shown_to_judge(message.text, message.quotes)
            self._judge_views[message.index] = shown
        return shown

    def view(self, role: str, instruction: str, system: str | None = None) -> list[ChatMessage]:
        """The chat a role's model sees: system, history, then this turn's instruction."""
        history = self._history(role)
        chat = [ChatMessage("system", system or self.system_prompt(role)), *history]
        if instruction:
            if history and history[-1].role == "user":
                chat[-1] = ChatMessage("user", f"{history[-1].content}\n\n{instruction}")
            else:
                chat.append(ChatMessage("user", instruction))
        return chat

    def _history(self, role: str) -> list[ChatMessage]:
        """The role's view of the messages so far, consecutive same-kind turns merged.

        Messages are append-only, so each role's history is extended, not rebuilt."""
        entry = self._histories.get(role)
        if entry is None:
            entry = self._histories[role] = (0, [])
        consumed, merged = entry
        if consumed == len(self.messages):
            return merged
        is_judge = self.roles[role].is_judge

        def add(kind: Any, content: str) -> None:
            if merged and merged[-1].role == kind:
                merged[-1] = ChatMessage(kind, f"{merged[-1].content}\n\n{content}")
            else:
                merged.append(ChatMessage(kind, content))

        for message in self.messages[consumed:]:
            if message.visible_to is not None and role not in message.visible_to:
                continue
            if message.role == role:
                asked = message.meta.get("instruction")
                if asked:
                    add("user", asked)
                add("assistant", message.text)
            else:
                text = self._shown_to_judge(message) if is_judge else message.text
                add("user", f"{message.speaker}: {quote_turn_lines(text, self.turn_pattern)}")
        self._histories[role] = (len(self.messages), merged)
        return merged

    # ----- calling models --------------------------------------------------------------

    def next_seed(self) -> int:
        """The seed of the unit's next model call (a cheap integer mix, stable across runs)."""
        self.calls += 1
        mixed = (self.seed * 0x9E3779B1 + self.calls * 0x85EBCA77) & 0xFFFFFFFF
        return mixed ^ (mixed >> 15)

    async def complete(
        self,
        role: str,
        chat: list[ChatMessage],
        config: GenerateConfig,
        kind: str = "speech",
        stream: bool = True,
        model: Model | None = None,
    ) -> Completion:
        """Call a role's model (or `model`, a panel member's), emitting turn events and
        counting usage and calls per role."""
        bound = self.roles[role]
        on_delta = None
        if self.listening:
            self.emit(TurnStarted(self.unit_id, self.round, role, bound.speaker, kind))
        if stream and self.streaming:
            unit_id = self.unit_id

            def on_delta(piece: str) -> None:
                self.emit(TextDelta(unit_id, role, piece))

            if config.opening and config.choices is None:  # the model streams what follows
                on_delta(config.opening)
        if self.store_prompts == "all" or kind == "verdict":
            self.sent.append((role, kind, self.round, chat))
        completion = await (model or bound.model).generate(chat, config, on_delta)
        self.count_usage(role, completion)
        return completion

    def count_usage(self, role: str, completion: Completion) -> None:
        """Add a call's tokens to the role's usage (replayed calls apart: nothing billed)."""
        counts = self.usage.get(role)
        if counts is None:
            counts = self.usage[role] = {**dict.fromkeys(BILLED_TOKENS, 0), "calls": 0}
        usage = completion.usage
        if completion.cached:  # replayed from the local call cache: nothing was billed
            counts["replayed_tokens"] = (
                counts.get("replayed_tokens", 0) + usage.prompt_tokens + usage.completion_tokens
            )
        else:
            counts["prompt_tokens"] += usage.prompt_tokens
            counts["cached_prompt_tokens"] += usage.cached_prompt_tokens
            counts["completion_tokens"] += usage.completion_tokens
        counts["calls"] += 1

    def agent_config(self, role: str, spec: AgentSpec) -> GenerateConfig:
        # with an extract_tag the speech is the tagged text: nothing to open it with
        opens = bool(spec.opening) and not spec.extract_tag
        return GenerateConfig(
            max_tokens=spec.max_tokens,
            temperature=spec.temperature,
            top_p=spec.top_p,
            seed=self.next_seed(),
            stop=tuple(spec.stop) if spec.stop else (),
            epoch=self.epoch,
            repetition_penalty=spec.repetition_penalty,
            no_repeat_ngram_size=spec.no_repeat_ngram_size,
            frequency_penalty=spec.frequency_penalty,
            presence_penalty=spec.presence_penalty,
            no_copy_ngram_size=spec.no_copy_ngram_size,
            opening=self.render(role, spec.opening or "") if opens else "",
        )

    def add_verdict(self, verdict: Verdict) -> None:
        """Keep a verdict, noting how many calls had been made by then (the record links
        each verdict to the messages its judge was sent)."""
        self.verdicts.append(verdict)
        self.verdict_calls.append(len(self.sent))

    def add_message(
        self,
        role: str,
        text: str,
        kind: str = "speech",
        visible_to: list[str] | None = None,
        meta: dict[str, Any] | None = None,
        check_quotes_in_text: bool = True,
        completion_tokens: int = 0,
    ) -> Message:
        bound = self.roles[role]
        protocol = self.bundle.protocol
        text = normalise_speech(text)
        quotes = (
            check_quotes(text, self.scenario.story, protocol.quotes, protocol.quote_threshold)
            if check_quotes_in_text and "quote" in text.lower()
            else []
        )
        message = Message(
            index=len(self.messages),
            round=self.round,
            role=role,
            speaker=bound.speaker,
            kind=kind,
            text=text,
            visible_to=visible_to,
            quotes=quotes,
            meta=meta or {},
        )
        self.messages.append(message)
        if self.listening:
            self.emit(
                TurnFinished(
                    self.unit_id,
                    self.round,
                    role,
                    bound.speaker,
                    kind,
                    text,
                    tuple((q.text, q.verified) for q in quotes),
                    completion_tokens,
                )
            )
        return message
