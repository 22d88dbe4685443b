"""What a run produces, as types: messages, verdicts and the record of one unit.

The engine writes records as plain dicts (one JSON line each in `transcripts.jsonl`,
for speed); `UnitRecord` is the typed way to read them back. Old run directories load
unchanged: the JSON shape on disk is the same, and unknown keys are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from debate.core.quotes import QuoteCheck

LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
"""Answer labels by position: the first answer is A."""

BILLED_TOKENS = ("prompt_tokens", "cached_prompt_tokens", "completion_tokens")
"""A record's token counts per role, summed over the role's calls: prompt tokens (of
which `cached_prompt_tokens` were served from the server's prompt cache) and completion
tokens. Calls answered from the local call cache (`--cache`) were not billed and count
only as `replayed_tokens`."""

FeatureState = TypeVar("FeatureState", bound=BaseModel)


@dataclass(slots=True)
class Message:
    """One utterance. `visible_to` None means every role can see it.

    A plain dataclass rather than a pydantic model: every turn makes one, and records
    are written from `to_record`, which leaves out empty fields.
    """

    index: int
    round: int
    role: str
    speaker: str
    text: str
    kind: str = "speech"
    visible_to: list[str] | None = None
    quotes: list[QuoteCheck] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "index": self.index,
            "round": self.round,
            "role": self.role,
            "speaker": self.speaker,
            "kind": self.kind,
            "text": self.text,
        }
        if self.visible_to is not None:
            data["visible_to"] = list(self.visible_to)
        if self.quotes:
            data["quotes"] = [quote.model_dump() for quote in self.quotes]
        if self.meta:
            data["meta"] = dict(self.meta)
        return data


class Verdict(BaseModel):
    """A judge's decision. `probs` follow the unit's answer order; invalid ones are kept.

    `at_message` is how many messages the judge had seen (where an intermediate verdict
    sits in the transcript). A panel's verdict has method `panel` and keeps every
    member's verdict in `panel` (see `debate.core.panels`).

    `label_mass` is the labels' total probability where the label was read (before
    renormalising) and `label_position` the generated token read (0 with a prefilled
    turn); `fallback` says why a judge asked for log-probabilities was read by parsing
    instead (no label position, a label mass under the judge's `min_label_mass`, ...).
    A parsed verdict keeps the written `confidence` (0-1); `confidence_contradicts`
    flags one below 1/k, which would have put another answer on top.
    """

    role: str
    round: int
    probs: list[float] | None
    chosen: int | None
    valid: bool
    method: Literal["logprobs", "parse", "human", "none", "panel"]
    raw: str
    attempts: int = 1
    final: bool = True
    label_mass: float | None = None
    label_position: int | None = None
    fallback: str | None = None
    confidence: float | None = None
    confidence_contradicts: bool = False
    raw_probs: list[float] | None = None
    """For a corrected verdict (the judge's `calibrate`): the probabilities as first read;
    `probs` are the corrected ones."""
    calibration: dict[str, Any] | None = None
    """How it was corrected (see `debate.core.calibration`): `method` (`both-orders` or
    `content-free`) and `reversed_probs` (the reading with the answers listed in reverse,
    in the unit's order) or `prior` (the content-free label probabilities)."""
    shown: list[int] = Field(default_factory=list)
    """The record's stored calls (`prompts.calls`) whose messages this verdict's judge read."""
    at_message: int | None = None
    panel: dict[str, Any] | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    """How the verdict was given, when the backend says (a person: annotator, seconds,
    reason); left out of the record when empty."""

    def to_record(self) -> dict[str, Any]:
        return self.model_dump(exclude={"meta"} if not self.meta else None)


class UnitRecord(BaseModel):
    """One finished unit (scenario x protocol x answer order x variant x repeat)."""

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)

    id: str
    """Unique id of the unit within its run: scenario, swap, variant and repeat."""
    protocol: str
    """Name of the protocol that ran."""
    scenario_id: str
    """Id of the scenario (question); both answer orders of a question share it."""
    source: str | None = None
    """Where the scenario came from (file and line or record)."""
    swap: bool = False
    """True for the unit that shows the answers in swapped order."""
    variant: dict[str, Any] = Field(default_factory=dict)
    """The protocol variant values of this unit (`--variant KEY=V1,V2`)."""
    repeat: int = 0
    """Which repeat of the same unit this is (`--repeats`)."""
    seed: int | None = None
    """The unit's seed, derived from the run seed and the unit id."""
    question: str = ""
    """The question as shown to the roles."""
    answers: list[str] = Field(default_factory=list)
    """The answer options in the order this unit shows them."""
    correct_index: int | None = None
    """Index of the correct answer in `answers`; None when the scenario has no gold."""
    defends: dict[str, int | None] = Field(default_factory=dict)
    """Which answer index each role defended (None for roles that defend none)."""
    messages: list[dict[str, Any]] = Field(default_factory=list)
    """Every message in order (see `Message.to_record`)."""
    verdicts: list[dict[str, Any]] = Field(default_factory=list)
    """Every verdict given, intermediate ones included (see `Verdict`)."""
    final_verdict: dict[str, Any] | None = None
    """The deciding verdict, or None for protocols no judge decides."""
    correct: bool | None = None
    """Whether the final verdict (or final answer) is right; None when it cannot be told."""
    stop_reason: str = "completed"
    """Why the unit ended: `completed`, or a protocol's stop rule."""
    rounds: int = 0
    """How many rounds ran."""
    state: dict[str, Any] = Field(default_factory=dict)
    """Feature-specific results (PBT tree, LOGICOM checks, votes ...); read with `state_as`."""
    models: dict[str, str] = Field(default_factory=dict)
    """The model string bound to each role."""
    usage: dict[str, dict[str, int]] = Field(default_factory=dict)
    """Token counts (see `BILLED_TOKENS`) and model calls (`calls`) per role."""
    prompts: dict[str, Any] = Field(default_factory=dict)
    """The exact messages models were sent: every verdict call (every call with
    `--store-prompts all`), compactly; see `debate.core.sent`. Each verdict's `shown`
    lists the calls its judge read."""
    timing: dict[str, float] = Field(default_factory=dict)
    """Wall-clock figures of the unit (seconds)."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UnitRecord:
        """The typed record of one `transcripts.jsonl` line."""
        return cls.model_validate(data)

    def to_json(self) -> dict[str, Any]:
        """The record as written on disk (the same keys the engine writes)."""
        return self.model_dump(mode="json")

    def state_as(self, model: type[FeatureState], key: str | None = None) -> FeatureState:
        """The feature-specific part of `state` (or of `state[key]`) as a typed model."""
        data = self.state if key is None else self.state.get(key, {})
        return model.model_validate(data)

    def final(self) -> Verdict | None:
        """The final verdict, typed."""
        return Verdict.model_validate(self.final_verdict) if self.final_verdict else None
