"""Debater tournaments for `debate bench`: entrants, pairings, matches and ratings.

A tournament plays debater configurations (a model, an agent declaration, a temperature, a
best-of-N setting) against each other in a two-seat protocol, round-robin or Swiss (pair
neighbours by current Bradley-Terry rating, avoiding rematches). Each pairing is a run
directory `OUT/tournament/[rN-]<a>--vs--<b>/` run like a benchmark cell, with the protocol
copied into `OUT/tournament/_declarations/` so each seat uses its entrant's agent
declaration. Ratings come from `debate.bench.report.debater_ratings`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from rich.console import Console

from debate.bench.cells import Cell, RunSettings, has_records, run_cell, safe_name
from debate.bench.report import debater_ratings
from debate.core import library
from debate.core.loading import load_protocol, read_yaml
from debate.core.store import load_run
from debate.errors import DebateInputError


class DebaterConfig(BaseModel):
    """A tournament entrant: a model, optionally another agent declaration or best-of-N."""

    model_config = ConfigDict(extra="forbid")

    name: str
    model: str = "scripted"
    agent: str | None = None
    best_of: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0)


class Tournament(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["round-robin", "swiss"] = "round-robin"
    protocol: str = "debate"
    judge: str = "scripted"
    scenarios: str = "truthfulqa-sample"
    limit: int | None = Field(default=None, ge=1)
    seed: int = 0
    rounds: int = Field(default=3, ge=1, description="Swiss rounds")
    both_seats: bool = True
    self_play: bool = False
    debaters: list[DebaterConfig]

    @field_validator("debaters")
    @classmethod
    def _distinct(cls, value: list[DebaterConfig]) -> list[DebaterConfig]:
        names = [d.name for d in value]
        if len(value) < 2:
            raise ValueError("needs at least two debater configurations")
        if len(set(names)) != len(names):
            raise ValueError("debater names must be distinct")
        return value


def _seats(protocol: str) -> tuple[str, str]:
    bundle = load_protocol(protocol)
    seats = [
        name
        for name, role in bundle.protocol.roles.items()
        if role.agent is not None and isinstance(role.defends, int)
    ]
    if len(seats) != 2:
        raise DebateInputError(
            f"tournament: protocol: '{protocol}' needs exactly two speaking roles with a fixed "
            f"'defends' (found {len(seats)})"
        )
    return seats[0], seats[1]


def _derived_protocol(
    tournament: Tournament, seat_configs: dict[str, DebaterConfig], folder: Path
) -> Path:
    """A copy of the protocol whose seats use each entrant's agent declaration."""
    folder.mkdir(parents=True, exist_ok=True)
    data = read_yaml(library.resolve("protocols", tournament.protocol))
    for seat, config in seat_configs.items():
        role = data["roles"][seat]
        agent_name = config.agent or role["agent"]
        agent = read_yaml(library.resolve("agents", agent_name))
        agent.setdefault("name", Path(agent_name).stem)
        if config.best_of is not None:
            agent["best_of"] = config.best_of
        if config.temperature is not None:
            agent["temperature"] = config.temperature
        agent_path = folder / f"agent-{safe_name(config.name)}.yaml"
        agent_path.write_text(yaml.safe_dump(agent, sort_keys=False), "utf-8")
        role["agent"] = str(agent_path.resolve())
    names = "-vs-".join(safe_name(c.name) for c in seat_configs.values())
    path = folder / f"protocol-{names}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    return path.resolve()


def _swiss_pairs(
    names: list[str], ratings: dict[str, float], played: set[frozenset[str]]
) -> list[tuple[str, str]]:
    """Pair neighbours by current rating, avoiding rematches where possible; odd one sits out."""
    order = sorted(names, key=lambda n: (-ratings.get(n, 0.0), names.index(n)))
    pairs: list[tuple[str, str]] = []
    while len(order) > 1:
        first = order.pop(0)
        partner = next((n for n in order if frozenset((first, n)) not in played), order[0])
        order.remove(partner)
        pairs.append((first, partner))
    return pairs


def run_tournament(
    tournament: Tournament,
    settings: RunSettings,
    out: Path,
    *,
    resume: bool,
    run: bool,
    console: Console,
) -> dict[str, Any]:
    """Play the tournament's matches (unless `run` is False) and rate the debaters."""
    seat_a, seat_b = _seats(tournament.protocol)
    configs = {d.name: d for d in tournament.debaters}
    judge_roles = [
        n for n, r in load_protocol(tournament.protocol).protocol.roles.items() if r.judge
    ]
    folder = out / "tournament"
    games: list[tuple[str, str, list[dict[str, Any]]]] = []

    def play(a: str, b: str, prefix: str = "") -> None:
        name = f"{prefix}{safe_name(a)}--vs--{safe_name(b)}"
        directory = folder / name
        if run:
            protocol_path = _derived_protocol(
                tournament, {seat_a: configs[a], seat_b: configs[b]}, folder / "_declarations"
            )
            bindings = {seat_a: configs[a].model, seat_b: configs[b].model}
            bindings.update(dict.fromkeys(judge_roles, tournament.judge))
            cell = Cell(
                protocol=tournament.protocol,
                judge=tournament.judge,
                debaters=f"{a} vs {b}",
                scenarios=tournament.scenarios,
                seed=tournament.seed,
                bindings=bindings,
                source=tournament.scenarios,
                dir=str(directory),
            )
            started = time.perf_counter()
            run_cell(
                cell,
                settings,
                resume=resume,
                protocol_path=str(protocol_path),
                limit=tournament.limit,
            )
            seconds = time.perf_counter() - started
            console.print(f"  match {name}: {seconds:.1f} s", highlight=False, markup=False)
        if has_records(directory):
            games.append((a, b, load_run(directory)[0]))

    def seatings(a: str, b: str) -> list[tuple[str, str]]:
        return [(a, b), (b, a)] if tournament.both_seats else [(a, b)]

    names = list(configs)
    if tournament.format == "round-robin":
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                for x, y in seatings(a, b):
                    play(x, y)
    else:
        played: set[frozenset[str]] = set()
        for number in range(1, tournament.rounds + 1):
            current = debater_ratings(games, (seat_a, seat_b), resamples=0)["ratings"]
            points = {n: e["bradley_terry"]["value"] or 0.0 for n, e in current.items()}
            for a, b in _swiss_pairs(names, points, played):
                played.add(frozenset((a, b)))
                for x, y in seatings(a, b):
                    play(x, y, prefix=f"r{number}-")
    if tournament.self_play:
        for a in names:
            play(a, a)
    result = debater_ratings(
        games, (seat_a, seat_b), resamples=settings.resamples, seed=tournament.seed
    )
    result["warnings"] = _best_of_unused(games, configs, (seat_a, seat_b))
    for warning in result["warnings"]:
        console.print(f"warning: {warning}", highlight=False, markup=False)
    result.update(format=tournament.format, judge=tournament.judge, protocol=tournament.protocol)
    return result


def _best_of_unused(
    games: list[tuple[str, str, list[dict[str, Any]]]],
    configs: dict[str, DebaterConfig],
    seats: tuple[str, str],
) -> list[str]:
    """Entrants declared best-of-N whose speeches carry no best-of record (the speak step
    of this installation does not consult `best_of`)."""
    warnings = []
    for name, config in configs.items():
        if not config.best_of or config.best_of < 2:
            continue
        speeches = [
            message
            for a, b, records in games
            for seat, player in zip(seats, (a, b), strict=True)
            if player == name
            for record in records
            for message in record.get("messages", [])
            if message.get("role") == seat
        ]
        if speeches and not any("best_of" in (m.get("meta") or {}) for m in speeches):
            warnings.append(
                f"debater '{name}': best_of {config.best_of} had no effect (no speech records "
                "candidates; the speak step does not call debate.core.bestof.best_of_n)"
            )
    return warnings
