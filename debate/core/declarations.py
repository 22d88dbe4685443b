"""Pydantic models of every declaration: agents, judges, protocols, and the resolved bundle.

These are plain data; reading them from YAML files is `debate.core.loading`'s job.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from debate.models.settings import GenerationControls

MAX_TOKENS = 1_000_000
"""The largest `max_tokens` a declaration may ask for."""
MAX_RETRIES = 10
"""The largest `retries` of a judge."""
MAX_BEST_OF = 64
"""The largest `best_of` of an agent."""


def check_pattern(source: str, groups: int) -> str:
    """A regular expression that compiles and has at least `groups` capture groups."""
    try:
        compiled = re.compile(source)
    except re.error as exc:
        raise ValueError(f"invalid regular expression ({exc})") from None
    if compiled.groups < groups:
        need = "a capture group" if groups == 1 else f"{groups} capture groups"
        raise ValueError(f"needs {need} (has {compiled.groups})")
    return source


class Declaration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""


class AgentSpec(Declaration, GenerationControls):
    """A speaking role: how it is prompted and sampled, with its stop strings and
    repetition controls (`GenerationControls`)."""

    system: str
    instruction: str = ""
    templates: dict[str, str] = Field(default_factory=dict)
    word_limit: int | None = Field(default=None, ge=1)
    extract_tag: str | None = None
    max_tokens: int = Field(default=300, ge=1, le=MAX_TOKENS)
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    best_of: int = Field(default=1, ge=1, le=MAX_BEST_OF)
    # template a speech starts with; the model continues it where the backend can prefill
    opening: str | None = Field(default=None, max_length=1000)


class PanelMember(BaseModel):
    """One seat of a judge panel: a judge declaration, a model, or both.

    Without `judge` the member uses the panel's own prompts; without `model`, the model
    bound to the panel's role (`--model judge=...`)."""

    model_config = ConfigDict(extra="forbid")

    judge: str | None = None
    model: str | None = None
    label: str | None = None


class PanelSpec(BaseModel):
    """Several judges giving one verdict: the mean of their probabilities, or a majority
    vote of their choices (a tie for most votes is recorded and chooses nothing)."""

    model_config = ConfigDict(extra="forbid")

    members: list[PanelMember] = Field(min_length=2, max_length=32)
    aggregate: Literal["mean", "majority"] = "mean"


class JudgeSpec(Declaration):
    """A deciding role: how a verdict (or a question, or a check) is asked for and read.

    A judge with a `panel` gives verdicts through its members; its own `system` and
    `instruction` are then optional (members without `judge` use them)."""

    system: str
    instruction: str
    method: Literal["logprobs", "parse"] = "logprobs"
    choices: list[str] | None = Field(default=None, min_length=1)
    # where the label is produced: the reply's text right before it (prefilled if we can)
    answer_prefix: str | None = Field(default="Answer:", max_length=200)
    prefill: bool | Literal["auto"] = "auto"
    min_label_mass: float = Field(default=0.5, ge=0.0, le=1.0)
    # correct a label preference (debate.core.calibration); auto: both-orders on backends
    # that ask for it (the embedded model), none elsewhere
    calibrate: Literal["auto", "none", "both-orders", "content-free"] = "auto"
    parse_pattern: str = r"(?i)answer\s*[:\-]?\s*\(?\**\s*([A-Z])\b"
    # group 1: the number; group 2: "%" or "/<denominator>" (30%, 0.3, 30/100, 3 out of 10)
    confidence_pattern: str = (
        r"(?i)(?:confidence|probability)\s*(?:level|score)?\s*(?:is|of)?\s*[:=\-]?\s*"
        r"([0-9]*\.?[0-9]+)\s*(%|(?:/|out\s+of)\s*[0-9]*\.?[0-9]+)?"
    )
    retries: int = Field(default=2, ge=0, le=MAX_RETRIES)
    retry_instruction: str = "Reply in exactly this format: Answer: <letter>"
    ask: str | None = None
    templates: dict[str, str] = Field(default_factory=dict)
    max_tokens: int = Field(default=24, ge=1, le=MAX_TOKENS)
    ask_max_tokens: int = Field(default=120, ge=1, le=MAX_TOKENS)
    temperature: float = Field(default=0.0, ge=0.0)
    panel: PanelSpec | None = None

    @field_validator("parse_pattern")
    @classmethod
    def _parse_pattern(cls, value: str) -> str:
        return check_pattern(value, 1)

    @field_validator("confidence_pattern")
    @classmethod
    def _confidence_pattern(cls, value: str) -> str:
        return check_pattern(value, 2)

    @field_validator("choices")
    @classmethod
    def _distinct_labels(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if any(not label.strip() for label in value):
                raise ValueError("a choice label is empty")
            if len(set(value)) != len(value):
                raise ValueError("choice labels repeat")
        return value

    @model_validator(mode="before")
    @classmethod
    def _panel_prompts_optional(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("panel") is not None:
            return {"system": "", "instruction": "", **data}
        return data

    @model_validator(mode="after")
    def _members_have_prompts(self) -> JudgeSpec:
        panel = self.panel
        if panel is not None and not (self.system and self.instruction):
            for number, member in enumerate(panel.members):
                if member.judge is None:
                    raise ValueError(
                        f"panel.members[{number}] names no judge, so the panel needs its own "
                        "'system' and 'instruction'"
                    )
        return self


class RoleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent: str | None = None
    judge: str | None = None
    name: str | None = None
    defends: int | Literal["random", "choose"] | None = None

    @field_validator("defends")
    @classmethod
    def _answer_index(cls, value: Any) -> Any:
        if isinstance(value, int) and value < 0:
            raise ValueError(f"an answer index counts from 0, got {value}")
        return value

    params: dict[str, Any] = Field(default_factory=dict)


class ProtocolSpec(Declaration):
    """Roles, the round structure, visibility, the verdict and the position swap."""

    roles: dict[str, RoleSpec]
    hidden_from: dict[str, list[str]] = Field(default_factory=dict)
    rounds: list[Any] = Field(default_factory=list)
    verdict: str | None = None
    swap: bool = False
    variants: dict[str, list[str]] = Field(default_factory=dict)
    word_limit: int | None = Field(default=None, ge=1)  # overrides the agents' own limits
    quotes: Literal["exact", "normalised", "fuzzy"] = "normalised"
    quote_threshold: float = Field(default=0.9, ge=0.0, le=1.0)
    params: dict[str, Any] = Field(default_factory=dict)
    summary: list[str] = Field(default_factory=list)
    """Names of the measure sets the run summary reports (e.g. `logicom`, `pbt-tree`)."""

    @field_validator("summary", mode="before")
    @classmethod
    def _summary_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("roles")
    @classmethod
    def _roles_have_one_kind(cls, roles: dict[str, RoleSpec]) -> dict[str, RoleSpec]:
        for role_name, role in roles.items():
            if (role.agent is None) == (role.judge is None):
                raise ValueError(f"role '{role_name}' needs exactly one of 'agent' or 'judge'")
        return roles


class Bundle(BaseModel):
    """A protocol with every agent and judge it names, fully resolved."""

    protocol: ProtocolSpec
    steps: list[Any]
    agents: dict[str, AgentSpec]
    judges: dict[str, JudgeSpec]
    source: str

    def role_spec(self, role: str) -> AgentSpec | JudgeSpec:
        declared = self.protocol.roles[role]
        if declared.agent is not None:
            return self.agents[declared.agent]
        assert declared.judge is not None
        return self.judges[declared.judge]

    def resolved(self) -> dict[str, Any]:
        """Everything the run used, for `spec.yaml`."""
        return {
            "protocol": self.protocol.model_dump(),
            "agents": {name: spec.model_dump() for name, spec in self.agents.items()},
            "judges": {name: spec.model_dump() for name, spec in self.judges.items()},
            "source": self.source,
        }
