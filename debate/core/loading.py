"""Loading declarations from YAML files, with one-line errors.

Loading never raises a traceback at the user: problems become `DebateInputError`
lines such as `protocols/x.yaml: rounds[1].speak: unknown role 'debater_c'`.
Step types are looked up in `debate.core.steps`' registry, so a new step type is one
small class registered by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from debate.core import library
from debate.core.declarations import AgentSpec, Bundle, Declaration, JudgeSpec, ProtocolSpec
from debate.core.files import load_yaml
from debate.core.registry import MEASURES, load_features
from debate.core.steps import parse_steps
from debate.core.validation import bundle_problems, declaration_problems
from debate.errors import DebateInputError, pydantic_lines


def read_yaml(path: Path) -> dict[str, Any]:
    data = load_yaml(path)
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


def load_panel_members(spec: JudgeSpec, judges: dict[str, JudgeSpec]) -> None:
    """Add the judge declarations a panel's members name to `judges` (panels don't nest)."""
    if spec.panel is None:
        return
    for number, member in enumerate(spec.panel.members):
        if member.judge is None or member.judge in judges:
            continue
        try:
            loaded = load_judge(member.judge)
        except DebateInputError as exc:
            raise DebateInputError(
                *(f"judge '{spec.name}': panel.members[{number}]: {line}" for line in exc.lines)
            ) from exc
        if loaded.panel is not None:
            raise DebateInputError(
                f"judge '{spec.name}': panel.members[{number}].judge: '{member.judge}' is itself "
                "a panel (panels do not nest)"
            )
        judges[member.judge] = loaded


def load_protocol(name: str) -> Bundle:
    """Load a protocol by name or path, with its agents, judges and parsed steps."""
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
                load_panel_members(judges[role.judge], judges)
        except DebateInputError as exc:
            problems.extend(
                f"{path}: roles.{role_name}: {line}" if line.startswith("unknown") else line
                for line in exc.lines
            )
    for field, roles in protocol.hidden_from.items():
        for role_name in roles:
            if role_name not in protocol.roles:
                problems.append(f"{path}: hidden_from.{field}: unknown role '{role_name}'")
    load_features()
    for name in protocol.summary:
        if name not in MEASURES:
            known = ", ".join(sorted(MEASURES)) or "none"
            problems.append(f"{path}: summary: unknown measure set '{name}' (known: {known})")
    if protocol.verdict is not None:
        verdict_role = protocol.roles.get(protocol.verdict)
        if verdict_role is None:
            problems.append(f"{path}: verdict: unknown role '{protocol.verdict}'")
        elif verdict_role.judge is None:
            problems.append(f"{path}: verdict: role '{protocol.verdict}' is not a judge")
    if problems:
        raise DebateInputError(*problems)
    bundle = Bundle(protocol=protocol, steps=steps, agents=agents, judges=judges, source=str(path))
    problems = bundle_problems(bundle)
    if problems:
        raise DebateInputError(*problems)
    return bundle


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
        elif kind in ("agents", "judges"):
            data.setdefault("name", path.stem)
            spec = (AgentSpec if kind == "agents" else JudgeSpec).model_validate(data)
            return declaration_problems(spec, path)
        elif kind == "scenarios":
            from debate.core.scenarios import validate_scenario_set

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
