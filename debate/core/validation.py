"""What `validate` (and every run, before it starts) checks beyond each file's schema.

A declaration that passes must not fail at run time for a declaration reason, so the
checks follow what the engine will do: every template compiles in the sandbox and
reads only variables the engine provides where it is rendered (the role's variables,
`TEMPLATE_VARIABLES`, plus what the protocol's steps add); `hidden_from` names fields
that exist; step-named templates exist in the agents that speak them; fixed `defends`
indices fit the verdict judge's choice labels. Regexes and numeric ranges are checked
by the declarations' own validators.
"""

from __future__ import annotations

from collections.abc import Iterator

from debate.core import library
from debate.core.declarations import AgentSpec, Bundle, JudgeSpec
from debate.core.record import LABELS
from debate.core.scenarios import Scenario
from debate.core.steps import Choose, Speak, Step
from debate.core.templates import template_problems

TEMPLATE_VARIABLES = frozenset(
    {
        "question", "answers", "labels", "label_choices", "answer_list", "story", "fields",
        "total_rounds", "variant", "speakers", "params", "role", "name", "word_limit",
        "round", "my_answer", "my_label", "other_answers", "opponent_answer", "opponent_label",
    }
)  # fmt: skip
"""The variables every template of a role can read (see `UnitContext.template_variables`)."""

HIDEABLE = frozenset({"question", "answers", "labels", "label_choices", "answer_list", "story"})
"""Scenario fields `hidden_from` may hide (besides `fields.<name>` and step variables)."""


def walk_steps(steps: list[Step]) -> Iterator[Step]:
    """Every step, nested ones included."""
    for step in steps:
        yield step
        yield from walk_steps(step.substeps())


def step_variables(steps: list[Step]) -> frozenset[str]:
    """Variables the protocol's steps add to templates."""
    names: set[str] = set()
    for step in walk_steps(steps):
        names |= step.template_variables()
    return frozenset(names)


def spec_templates(spec: AgentSpec | JudgeSpec) -> Iterator[tuple[str, str]]:
    """(field, template source) for every template of a declaration."""
    yield "system", spec.system
    if spec.instruction:
        yield "instruction", spec.instruction
    if isinstance(spec, AgentSpec) and spec.opening:
        yield "opening", spec.opening
    if isinstance(spec, JudgeSpec):
        if spec.ask:
            yield "ask", spec.ask
        yield "retry_instruction", spec.retry_instruction
    for name, source in spec.templates.items():
        yield f"templates.{name}", source


def declaration_problems(
    spec: AgentSpec | JudgeSpec,
    path: object,
    known: frozenset[str] | None = None,
    used: frozenset[str] | None = None,
) -> list[str]:
    """Template problems of one agent or judge, as `file: field: reason` lines. Variables
    are checked against `known` in every template but the named ones no step `used`."""
    problems = []
    for field, source in spec_templates(spec):
        named = field.removeprefix("templates.")
        checked = known if used is None or named == field or named in used else None
        problems += [
            f"{path}: {field}: {problem}" for problem in template_problems(source, checked)
        ]
    return problems


def _step_strings(steps: list[Step]) -> frozenset[str]:
    """Every string a step holds (a named template is used by a step naming it)."""
    found: set[str] = set()
    for step in walk_steps(steps):
        for value in step.model_dump().values():
            if isinstance(value, str):
                found.add(value)
    return frozenset(found)


def _file_of(kind: str, name: str) -> object:
    try:
        return library.resolve(kind, name)
    except Exception:  # resolved once already; a file removed since is named by its name
        return f"{kind}/{name}"


def bundle_problems(bundle: Bundle) -> list[str]:
    """Everything a run of this protocol would trip over for a declaration reason."""
    protocol = bundle.protocol
    path = bundle.source
    added = step_variables(bundle.steps)
    known = TEMPLATE_VARIABLES | added
    used = _step_strings(bundle.steps)
    problems: list[str] = []
    for name, agent in bundle.agents.items():
        problems += declaration_problems(agent, _file_of("agents", name), known, used)
    for name, judge in bundle.judges.items():
        problems += declaration_problems(judge, _file_of("judges", name), known, used)
    for field in protocol.hidden_from:
        base = field.split(".", 1)[0] if field.startswith("fields.") else field
        if base != "fields" and field not in HIDEABLE | added:
            hideable = ", ".join(sorted(HIDEABLE)) + ", fields.<name>"
            problems.append(f"{path}: hidden_from.{field}: unknown field (known: {hideable})")
    for step in walk_steps(bundle.steps):
        problems += _template_name_problems(bundle, step)
    problems += _defends_problems(bundle)
    return problems


def _template_name_problems(bundle: Bundle, step: Step) -> list[str]:
    wanted: list[tuple[str, str, str]] = []
    if isinstance(step, Speak) and step.instruction:
        wanted = [(role, step.instruction, "instruction") for role in step.speak]
    elif isinstance(step, Choose):
        wanted = [(role, step.template, "template") for role in step.choose]
    problems = []
    for role, template, field in wanted:
        declared = bundle.protocol.roles.get(role)
        spec = bundle.agents.get(declared.agent or "") if declared else None
        if spec is not None and template not in spec.templates:
            known = ", ".join(sorted(spec.templates)) or "none"
            problems.append(
                f"{bundle.source}: rounds: {step.key} {field} '{template}': agent "
                f"'{spec.name}' has no such template (it has: {known})"
            )
    return problems


def _defends_problems(bundle: Bundle) -> list[str]:
    protocol = bundle.protocol
    verdict = protocol.roles.get(protocol.verdict or "")
    judge = bundle.judges.get(verdict.judge or "") if verdict else None
    if judge is None or not judge.choices:
        return []
    count = len(judge.choices)
    return [
        f"{bundle.source}: roles.{name}.defends: answer {role.defends} but judge "
        f"'{judge.name}' has {count} choice labels"
        for name, role in protocol.roles.items()
        if isinstance(role.defends, int) and role.defends >= count
    ]


def scenario_where(scenario: Scenario) -> str:
    """Where a scenario came from, as error lines name it: its data file and line."""
    file = scenario.metadata.get("file")
    line = scenario.metadata.get("line")
    if file and line:
        return f"{file}: line {line}"
    return f"{file}: scenario '{scenario.id}'" if file else f"scenario '{scenario.id}'"


def scenario_problems(bundle: Bundle, scenario: Scenario) -> list[str]:
    """Why this protocol cannot run on this scenario, naming the data (file and line)."""
    protocol = bundle.protocol
    answers = len(scenario.answers)
    at = scenario_where(scenario)
    needs = protocol.verdict is not None or any(
        role.defends is not None for role in protocol.roles.values()
    )
    if needs and not answers:
        return [
            f"{at}: answers: none, but protocol '{protocol.name}' needs answers to assign or judge"
        ]
    if answers > len(LABELS):
        return [f"{at}: answers: {answers} answers; at most {len(LABELS)} (labels A-Z)"]
    problems = [
        f"{at}: answers: {answers} answers, but {bundle.source}: roles.{name}.defends is "
        f"answer {role.defends}"
        for name, role in protocol.roles.items()
        if isinstance(role.defends, int) and answers and role.defends >= answers
    ]
    for name, judge in bundle.judges.items():
        if judge.choices and answers and len(judge.choices) != answers:
            problems.append(
                f"{at}: answers: {answers} answers, but judge '{name}' has "
                f"{len(judge.choices)} choice labels"
            )
    return problems
