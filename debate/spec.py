"""Pydantic models of every declaration (agents, judges, protocols) and their loading.

Loading never raises a traceback at the user: problems become `DebateInputError`
lines such as `protocols/x.yaml: rounds[1].speak: unknown role 'debater_c'`.
Step types are looked up in `debate.steps`' registry, so a new step type is one
small class registered by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from debate import library
from debate.errors import DebateInputError


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


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def pydantic_lines(path: object, error: ValidationError, prefix: str = "") -> list[str]:
    lines = []
    for item in error.errors():
        loc = _format_loc(tuple(item["loc"]))
        field = f"{prefix}.{loc}" if prefix and loc else (prefix or loc)
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"{path}: {field}: {message}" if field else f"{path}: {message}")
    return lines


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DebateInputError(f"{path}: cannot read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise DebateInputError(f"{path}: {at}{problem}") from exc
    if not isinstance(data, dict):
        raise DebateInputError(f"{path}: expected a mapping at the top level")
    return data


def _load_model(kind: str, name: str, model: type[Declaration]) -> Declaration:
    path = library.resolve(kind, name)
    data = read_yaml(path)
    data.setdefault("name", path.stem)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise DebateInputError(*pydantic_lines(path, exc)) from exc


def load_agent(name: str) -> AgentSpec:
    spec = _load_model("agents", name, AgentSpec)
    assert isinstance(spec, AgentSpec)
    return spec


def load_judge(name: str) -> JudgeSpec:
    spec = _load_model("judges", name, JudgeSpec)
    assert isinstance(spec, JudgeSpec)
    return spec


def load_protocol(name: str) -> Bundle:
    """Load a protocol by name or path, with its agents, judges and parsed steps."""
    from debate.steps import parse_steps

    path = library.resolve("protocols", name)
    data = read_yaml(path)
    data.setdefault("name", path.stem)
    try:
        protocol = ProtocolSpec.model_validate(data)
    except ValidationError as exc:
        raise DebateInputError(*pydantic_lines(path, exc)) from exc
    problems: list[str] = []
    steps = parse_steps(protocol.rounds, protocol, path, problems)
    agents: dict[str, AgentSpec] = {}
    judges: dict[str, JudgeSpec] = {}
    for role_name, role in protocol.roles.items():
        try:
            if role.agent is not None and role.agent not in agents:
                agents[role.agent] = load_agent(role.agent)
            if role.judge is not None and role.judge not in judges:
                judges[role.judge] = load_judge(role.judge)
        except DebateInputError as exc:
            problems.extend(
                f"{path}: roles.{role_name}: {line}" if line.startswith("unknown") else line
                for line in exc.lines
            )
    for field, roles in protocol.hidden_from.items():
        for role_name in roles:
            if role_name not in protocol.roles:
                problems.append(f"{path}: hidden_from.{field}: unknown role '{role_name}'")
    if protocol.verdict is not None:
        verdict_role = protocol.roles.get(protocol.verdict)
        if verdict_role is None:
            problems.append(f"{path}: verdict: unknown role '{protocol.verdict}'")
        elif verdict_role.judge is None:
            problems.append(f"{path}: verdict: role '{protocol.verdict}' is not a judge")
    if problems:
        raise DebateInputError(*problems)
    return Bundle(protocol=protocol, steps=steps, agents=agents, judges=judges, source=str(path))


def validate_file(path: Path) -> list[str]:
    """Problems with one declaration file, as lines; empty when it is valid.

    The kind is taken from the parent folder name, else guessed from the keys.
    """
    try:
        data = read_yaml(path)
    except DebateInputError as exc:
        return exc.lines
    kind = path.parent.name
    if kind not in library.KINDS:
        kind = _guess_kind(data)
    try:
        if kind == "protocols":
            load_protocol(str(path))
        elif kind == "agents":
            data.setdefault("name", path.stem)
            AgentSpec.model_validate(data)
        elif kind == "judges":
            data.setdefault("name", path.stem)
            JudgeSpec.model_validate(data)
        elif kind == "scenarios":
            from debate.scenario import validate_scenario_set

            return validate_scenario_set(path)
        else:
            return [f"{path}: cannot tell which kind of declaration this is"]
    except ValidationError as exc:
        return pydantic_lines(path, exc)
    except DebateInputError as exc:
        return exc.lines
    return []


def _guess_kind(data: dict[str, Any]) -> str:
    if "roles" in data:
        return "protocols"
    if "loader" in data:
        return "scenarios"
    if "method" in data or "choices" in data or "ask" in data:
        return "judges"
    if "system" in data:
        return "agents"
    return "unknown"
