"""Pydantic models of every declaration: agents, judges, protocols, and the resolved bundle.

These are plain data; reading them from YAML files is `debate.core.loading`'s job.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Declaration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""


class AgentSpec(Declaration):
    """A speaking role: how it is prompted and sampled."""

    system: str
    instruction: str = ""
    templates: dict[str, str] = Field(default_factory=dict)
    word_limit: int | None = None
    extract_tag: str | None = None
    max_tokens: int = 300
    temperature: float = 0.0
    top_p: float = 1.0
    best_of: int = Field(default=1, ge=1)


class JudgeSpec(Declaration):
    """A deciding role: how a verdict (or a question, or a check) is asked for and read."""

    system: str
    instruction: str
    method: Literal["logprobs", "parse"] = "logprobs"
    choices: list[str] | None = None
    parse_pattern: str = r"(?i)answer\s*[:\-]?\s*\(?\**\s*([A-Z])\b"
    confidence_pattern: str = r"(?i)(?:confidence|probability)\s*[:\-]?\s*([0-9]*\.?[0-9]+)\s*(%?)"
    retries: int = Field(default=2, ge=0)
    retry_instruction: str = "Reply in exactly this format: Answer: <letter>"
    ask: str | None = None
    templates: dict[str, str] = Field(default_factory=dict)
    max_tokens: int = 24
    ask_max_tokens: int = 120
    temperature: float = 0.0


class RoleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent: str | None = None
    judge: str | None = None
    name: str | None = None
    defends: int | Literal["random", "choose"] | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class ProtocolSpec(Declaration):
    """Roles, the round structure, visibility, the verdict and the position swap."""

    roles: dict[str, RoleSpec]
    hidden_from: dict[str, list[str]] = Field(default_factory=dict)
    rounds: list[Any] = Field(default_factory=list)
    verdict: str | None = None
    swap: bool = False
    variants: dict[str, list[str]] = Field(default_factory=dict)
    word_limit: int | None = None  # overrides the agents' own limits
    quotes: Literal["exact", "normalised", "fuzzy"] = "normalised"
    quote_threshold: float = 0.9
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
