"""Units of a run: scenarios × variants × repeats × answer orders, planned lazily.

`iter_plans` yields each unit's plan as the engine asks for the next one, so a run of
a million units never holds a million plans; `plan_units` is the same as a list for
small runs and tests. Unit ids and seeds depend only on the protocol, the scenario,
the variant, the repeat and the answer order, so a resumed run plans the same units.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from debate.core.context import derive_seed
from debate.core.declarations import Bundle
from debate.core.scenarios import Scenario
from debate.core.validation import scenario_problems
from debate.errors import DebateInputError


@dataclass(frozen=True)
class UnitPlan:
    """One unit of work: a scenario in a given answer order, variant and repeat."""

    id: str
    scenario: Scenario
    swap: bool
    variant: dict[str, str]
    repeat: int
    seed: int
    defends: dict[str, int | None]


@dataclass(frozen=True)
class PlanShape:
    """How many units each scenario becomes, and which."""

    combos: tuple[dict[str, str], ...]
    repeats: int
    swaps: tuple[bool, ...]

    @property
    def per_scenario(self) -> int:
        return len(self.combos) * self.repeats * len(self.swaps)


def plan_shape(
    bundle: Bundle,
    *,
    swap: bool | None = None,
    repeats: int = 1,
    variants: dict[str, list[str]] | None = None,
) -> PlanShape:
    protocol = bundle.protocol
    use_swap = protocol.swap if swap is None else swap
    chosen = {**protocol.variants, **(variants or {})}
    keys = sorted(chosen)
    combos = tuple(
        dict(zip(keys, values, strict=True))
        for values in itertools.product(*(chosen[k] for k in keys))
    )
    return PlanShape(combos or ({},), repeats, (False, True) if use_swap else (False,))


def needs_all_ids(bundle: Bundle) -> bool:
    """Whether planning needs every scenario id first (roles that defend `random`)."""
    return any(role.defends == "random" for role in bundle.protocol.roles.values())


def unit_id(
    name: str, scenario_id: str, variant: dict[str, str], swapped: bool, repeat: int, repeats: int
) -> str:
    parts = [name, scenario_id, *(f"{key}={value}" for key, value in variant.items())]
    parts.append("swap" if swapped else "orig")
    if repeats > 1:
        parts.append(f"rep{repeat}")
    return "/".join(parts)


def unit_keys(
    bundle: Bundle, scenario: Scenario, shape: PlanShape, seed: int
) -> Iterator[tuple[str, int]]:
    """The (id, seed) of each unit of one scenario, without planning them."""
    name = bundle.protocol.name
    for variant in shape.combos:
        for repeat in range(shape.repeats):
            for swapped in shape.swaps:
                key = unit_id(name, scenario.id, variant, swapped, repeat, shape.repeats)
                yield key, derive_seed(seed, key)


def iter_plans(
    bundle: Bundle,
    scenarios: Iterable[Scenario],
    *,
    seed: int = 0,
    swap: bool | None = None,
    repeats: int = 1,
    variants: dict[str, list[str]] | None = None,
) -> Iterator[UnitPlan]:
    """Every unit of a run, in a stable order, one at a time (the scenarios are checked
    beforehand: see `ScenarioChecks`).

    `scenarios` is iterated once, or twice when a role defends `random` (the balanced
    split needs every id): pass a list or a re-readable stream then."""
    shape = plan_shape(bundle, swap=swap, repeats=repeats, variants=variants)
    lucky = _balanced_halves(seed, [s.id for s in scenarios]) if needs_all_ids(bundle) else set()
    name = bundle.protocol.name
    for scenario in scenarios:
        for variant in shape.combos:
            for repeat in range(repeats):
                for swapped in shape.swaps:
                    shown = scenario.swapped() if swapped else scenario
                    key = unit_id(name, scenario.id, variant, swapped, repeat, repeats)
                    yield UnitPlan(
                        id=key,
                        scenario=shown,
                        swap=swapped,
                        variant=variant,
                        repeat=repeat,
                        seed=derive_seed(seed, key),
                        defends=static_defends(bundle, shown, scenario.id in lucky, key, seed),
                    )


def plan_units(
    bundle: Bundle,
    scenarios: Iterable[Scenario],
    *,
    seed: int = 0,
    swap: bool | None = None,
    repeats: int = 1,
    variants: dict[str, list[str]] | None = None,
) -> list[UnitPlan]:
    """Every unit of a run, in a stable order, as a list (for small runs); the scenarios
    are checked against the protocol first."""
    listed = scenarios if isinstance(scenarios, list) else list(scenarios)
    checks = ScenarioChecks(bundle)
    for scenario in listed:
        checks(scenario)
    checks.raise_any()
    return list(
        iter_plans(bundle, listed, seed=seed, swap=swap, repeats=repeats, variants=variants)
    )


class ScenarioChecks:
    """Whether the protocol can run on each scenario, called on each in turn; keeps the
    first few problems (one line each, naming the data) and raises them at the end."""

    SHOWN = 5

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.lines: list[str] = []
        self.count = 0

    def __call__(self, scenario: Scenario) -> None:
        for line in scenario_problems(self.bundle, scenario):
            self.count += 1
            if len(self.lines) < self.SHOWN:
                self.lines.append(line)

    def raise_any(self) -> None:
        if self.count:
            more = f"... and {self.count - self.SHOWN} more" if self.count > self.SHOWN else ""
            raise DebateInputError(*self.lines, more)


def _balanced_halves(seed: int, ids: list[str]) -> set[str]:
    """A seeded half of the scenario ids (those assigned the correct answer under `random`)."""
    shuffled = sorted(ids)
    random.Random(seed).shuffle(shuffled)
    return set(shuffled[: (len(shuffled) + 1) // 2])


def static_defends(
    bundle: Bundle, scenario: Scenario, lucky: bool, unit_id: str, seed: int
) -> dict[str, int | None]:
    defends: dict[str, int | None] = {}
    count = len(scenario.answers)
    for name, role in bundle.protocol.roles.items():
        if isinstance(role.defends, int):
            defends[name] = role.defends if count else None
        elif role.defends == "random" and count:
            correct = scenario.correct_index
            if correct is None:
                defends[name] = random.Random(derive_seed(seed, unit_id, name)).randrange(count)
            else:
                wrong = [i for i in range(count) if i != correct]
                defends[name] = correct if lucky else wrong[0]
        else:
            defends[name] = None
    return defends
