"""Judges of the same units side by side: humans against model judges, and annotators
against each other.

Each run directory is one judge: a model, a panel, or a person (`human/<annotator>`).
Units are matched by the unit they judged (`source_unit` for runs made by `debate
judge`, else the unit id), so runs of the same debates, or of the same deterministic
debaters and seed, line up. Only units with a known correct answer and a final verdict
count; an invalid verdict counts as wrong and as its own rating ("invalid").

Figures: each judge's accuracy on all its units and on the units every judge saw, with
95% CIs clustered by question; for every pair of judges the share of units where they
chose the same answer, Cohen's kappa, and the paired accuracy difference; Fleiss' kappa
over the annotators (and over all judges) on the units each of them saw; and, on units a
person and a model both judged, human accuracy against model accuracy.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from debate.analysis.agreement import cohen_estimate, fleiss_estimate
from debate.analysis.metrics import Estimate, accuracy, mean_estimate
from debate.core.store import load_run
from debate.errors import DebateInputError


@dataclass
class Judged:
    """One unit as one judge decided it."""

    rating: Hashable
    correct: bool
    question: str
    seconds: float | None


@dataclass
class Judge:
    label: str
    run: str
    human: bool
    units: dict[str, Judged] = field(default_factory=dict)


def judge_of(directory: Path, records: list[dict[str, Any]]) -> Judge:
    """The judge a run's records were decided by, and what it decided."""
    labels: set[str] = set()
    human = False
    judged: dict[str, Judged] = {}
    for record in records:
        final = record.get("final_verdict")
        if not isinstance(final, dict) or record.get("correct_index") is None:
            continue
        role = str(final.get("role", ""))
        model = str((record.get("models") or {}).get(role, "?"))
        labels.add(model)
        human = human or model.startswith("human") or final.get("method") == "human"
        seconds = (final.get("meta") or {}).get("seconds")
        judged[str(record.get("source_unit") or record["id"])] = Judged(
            rating=final.get("chosen") if final.get("valid") else "invalid",
            correct=bool(record.get("correct")),
            question=str(record.get("scenario_id", record["id"])),
            seconds=float(seconds) if isinstance(seconds, int | float) else None,
        )
    label = ", ".join(sorted(labels)) or "(no verdicts)"
    return Judge(label=label, run=directory.name, human=human, units=judged)


def load_judges(directories: Sequence[Path]) -> list[Judge]:
    judges = [judge_of(d, load_run(d)[0]) for d in directories]
    if not any(j.units for j in judges):
        raise DebateInputError("no run holds a final verdict on a unit with a known answer")
    seen = [j.label for j in judges]
    for judge in judges:  # the same judge in two runs: name them by run as well
        if seen.count(judge.label) > 1:
            judge.label = f"{judge.label} ({judge.run})"
    return judges


def _accuracy(judge: Judge, keys: Sequence[str]) -> Estimate:
    units = [judge.units[k] for k in keys]
    return accuracy([u.correct for u in units], clusters=[u.question for u in units])


def _shared(judges: Sequence[Judge]) -> list[str]:
    if not judges:
        return []
    keys = set(judges[0].units)
    for judge in judges[1:]:
        keys &= set(judge.units)
    return sorted(keys)


def _pair(a: Judge, b: Judge) -> dict[str, Any]:
    keys = _shared([a, b])
    same = [a.units[k].rating == b.units[k].rating for k in keys]
    differences = [float(a.units[k].correct) - float(b.units[k].correct) for k in keys]
    questions = [a.units[k].question for k in keys]
    return {
        "a": a.label,
        "b": b.label,
        "n": len(keys),
        "agreement": sum(same) / len(same) if same else None,
        "cohen_kappa": cohen_estimate(
            [a.units[k].rating for k in keys], [b.units[k].rating for k in keys]
        ).as_dict(),
        "accuracy_difference": mean_estimate(differences, clusters=questions).as_dict(),
    }


def _fleiss(judges: Sequence[Judge]) -> dict[str, Any] | None:
    if len(judges) < 2:
        return None
    keys = _shared(judges)
    items = [[j.units[k].rating for j in judges] for k in keys]
    return {"judges": [j.label for j in judges], **fleiss_estimate(items).as_dict()}


def _humans_vs_models(judges: Sequence[Judge]) -> dict[str, Any] | None:
    humans = [j for j in judges if j.human]
    models = [j for j in judges if not j.human]
    if not humans or not models:
        return None
    keys = sorted(set().union(*(j.units for j in humans)) & set().union(*(j.units for j in models)))

    def mean_correct(group: list[Judge], key: str) -> float:
        hits = [float(j.units[key].correct) for j in group if key in j.units]
        return sum(hits) / len(hits)

    human = [mean_correct(humans, k) for k in keys]
    model = [mean_correct(models, k) for k in keys]
    question = {k: next(j.units[k].question for j in judges if k in j.units) for k in keys}
    clusters = [question[k] for k in keys]
    return {
        "n": len(keys),
        "human_accuracy": mean_estimate(human, clusters=clusters).as_dict(),
        "model_accuracy": mean_estimate(model, clusters=clusters).as_dict(),
        "difference": mean_estimate(
            [h - m for h, m in zip(human, model, strict=True)], clusters=clusters
        ).as_dict(),
    }


def compare(judges: Sequence[Judge]) -> dict[str, Any]:
    """Every figure of the report, as JSON-ready data."""
    common = _shared(judges)
    rows = []
    for judge in judges:
        seconds = [u.seconds for u in judge.units.values() if u.seconds is not None]
        rows.append(
            {
                "judge": judge.label,
                "run": judge.run,
                "kind": "human" if judge.human else "model",
                "units": len(judge.units),
                "accuracy": _accuracy(judge, sorted(judge.units)).as_dict(),
                "accuracy_common": _accuracy(judge, common).as_dict(),
                "seconds_per_verdict": sum(seconds) / len(seconds) if seconds else None,
            }
        )
    humans = [j for j in judges if j.human]
    return {
        "common_units": len(common),
        "judges": rows,
        "pairs": [_pair(a, b) for a, b in combinations(judges, 2)],
        "fleiss_annotators": _fleiss(humans),
        "fleiss_all": _fleiss(judges) if len(judges) > 2 else None,
        "humans_vs_models": _humans_vs_models(judges),
    }
