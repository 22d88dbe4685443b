"""One streaming pass over a run's records: the per-unit scalars its summary needs.

A run's summary must not hold its records: a million units of transcripts do not fit
in memory. `RunTally.add` keeps, per unit, a handful of numbers in typed arrays
(whether it was right, the correct answer's position and probability, hashes that
identify its question, its answer-order group and the answer the judge chose) and
drops the record. Bootstrap clusters and swap groups are numbered in order of first
appearance, as a list of whole records would give them, so the figures are those a
pass over all records in memory gives.
"""

from __future__ import annotations

import json
import math
from array import array
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np

from debate.analysis.metrics import Estimate, accuracy, accuracy_by_position, mean_estimate
from debate.core.costs import PriceTable, UsageTally

FAILURES_LISTED = 50


def _first_seen_codes(hashes: array[int]) -> np.ndarray:
    """Codes 0, 1, ... of equal hashes, numbered by first appearance."""
    values = np.frombuffer(hashes, dtype=np.int64) if len(hashes) else np.zeros(0, np.int64)
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    _unique, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return np.asarray(rank[inverse.reshape(-1)], dtype=np.int64)


class Proportion:
    """Yes/no outcomes with the question each belongs to: a rate with a CI that resamples
    whole questions, kept as two typed arrays."""

    def __init__(self) -> None:
        self.values = array("b")
        self.clusters = array("q")

    def add(self, value: bool, scenario: str) -> None:
        self.values.append(1 if value else 0)
        self.clusters.append(hash(scenario))

    def __len__(self) -> int:
        return len(self.values)

    def estimate(self) -> Estimate:
        if not self.values:
            return accuracy([])
        return mean_estimate(
            np.frombuffer(self.values, dtype=np.int8).astype(float),
            clusters=_first_seen_codes(self.clusters).tolist(),
        )


def _chosen_answer(record: Mapping[str, Any], final: Mapping[str, Any]) -> str | None:
    chosen = final.get("chosen")
    answers = record.get("answers") or []
    if not final.get("valid") or not isinstance(chosen, int) or not 0 <= chosen < len(answers):
        return None
    return str(answers[chosen])


class RunTally:
    """Scalars of each unit of a run, gathered one record at a time."""

    def __init__(self) -> None:
        self.protocol: str | None = None
        self.n_units = 0
        self.n_judged = 0
        self.n_valid = 0
        self.n_tied = 0  # valid final verdicts whose top answers tie (a panel's tied vote)
        # one entry per scored unit (a final verdict and a gold answer)
        self._correct = array("b")
        self._position = array("q")
        self._cluster = array("q")
        self._group = array("q")
        self._p_correct = array("d")  # NaN when the verdict is invalid
        self._chosen = array("q")
        self._has_chosen = array("b")
        # units decided without a judge verdict (a vote, a moderator), and whether their
        # final answer went ungraded
        self._answered = Proportion()
        self._ungraded = Proportion()
        # open protocols: whether both debaters chose the same answer, and each pick
        self._same_side = Proportion()
        self._picks = Proportion()
        # how final verdicts were read (see `docs/verdicts.md`)
        self._label_mass = array("d")
        self.n_parse_fallback = 0  # parsed although label log-probabilities were asked for
        self.n_low_label_mass = 0  # of those, below the judge's min_label_mass
        self.n_confidence_contradicts = 0
        self.corrected: Counter[str] = Counter()  # corrected for label preference, by method
        self.stop_reasons: Counter[str] = Counter()
        self.usage = UsageTally()
        self._failures: dict[str, dict[str, str]] = {}
        self._failure_usage: dict[str, Mapping[str, Any]] = {}

    # ----- feeding -----------------------------------------------------------------------

    def add_failures(self, failures: list[dict[str, Any]]) -> None:
        """Failures of the run (latest per unit); a unit that later finished drops out."""
        for failure in failures:
            unit = str(failure.get("id"))
            self._failures[unit] = {"id": unit, "error": str(failure.get("error", ""))}
            self._failure_usage[unit] = failure

    def add(self, record: Mapping[str, Any]) -> None:
        """Take one unit record's scalars."""
        if self._failures:
            unit = str(record.get("id"))
            self._failures.pop(unit, None)
            self._failure_usage.pop(unit, None)
        if self.protocol is None:
            self.protocol = record.get("protocol")
        self.n_units += 1
        self.stop_reasons[str(record.get("stop_reason", "completed"))] += 1
        self.usage.add(record)
        scenario = str(record.get("scenario_id"))
        final = record.get("final_verdict")
        correct_index = record.get("correct_index")
        state = record.get("state") or {}
        if state.get("choices"):
            self._add_choices(state, scenario, correct_index)
        if final is None:
            if record.get("correct") is not None:
                self._answered.add(bool(record["correct"]), scenario)
                graded = (state.get("final_answer") or {}).get("graded")
                self._ungraded.add(not graded, scenario)
            return
        self.n_judged += 1
        valid = bool(final.get("valid"))
        self.n_valid += valid
        self._add_reading(final)
        self.n_tied += valid and final.get("chosen") is None
        if correct_index is None:
            return
        self._correct.append(1 if record.get("correct") else 0)
        self._position.append(int(correct_index))
        self._cluster.append(hash(scenario))
        variant = json.dumps(record.get("variant", {}))
        self._group.append(hash((scenario, variant, record.get("repeat", 0))))
        probs = final.get("probs")
        p = float(probs[correct_index]) if valid and probs else math.nan
        self._p_correct.append(p)
        answer = _chosen_answer(record, final)
        self._chosen.append(hash(answer) if answer is not None else 0)
        self._has_chosen.append(answer is not None)

    def _add_reading(self, final: Mapping[str, Any]) -> None:
        if final.get("label_mass") is not None:
            self._label_mass.append(float(final["label_mass"]))
        fallback = final.get("fallback")
        if fallback and final.get("method") == "parse":
            self.n_parse_fallback += 1
            self.n_low_label_mass += "label mass" in str(fallback)
        self.n_confidence_contradicts += bool(final.get("confidence_contradicts"))
        calibration = final.get("calibration")
        if calibration:
            self.corrected[str(calibration.get("method"))] += 1

    def _add_choices(self, state: Mapping[str, Any], scenario: str, correct: Any) -> None:
        chosen = [choice.get("chosen") for choice in state["choices"].values()]
        self._same_side.add(bool(state.get("same_side", len(set(chosen)) == 1)), scenario)
        if correct is not None:
            for pick in chosen:
                self._picks.add(pick == correct, scenario)

    # ----- figures -----------------------------------------------------------------------

    def _swap_figures(self) -> tuple[Estimate, Estimate]:
        """Swap-averaged accuracy and swap disagreement over answer-order groups."""
        groups = _first_seen_codes(self._group)
        if groups.size == 0:
            empty = accuracy([])
            return empty, empty
        order = np.argsort(groups, kind="stable")  # members in order of appearance
        sorted_groups = groups[order]
        starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
        sizes = np.diff(np.r_[starts, sorted_groups.size])
        p = np.frombuffer(self._p_correct, dtype=np.float64)[order]
        sums = np.add.reduceat(p, starts)
        complete = ~np.isnan(sums)
        averaged = (sums[complete] / sizes[complete]) > 0.5
        pairs = starts[sizes == 2]
        chosen = np.frombuffer(self._chosen, dtype=np.int64)[order]
        has = np.frombuffer(self._has_chosen, dtype=np.int8)[order].astype(bool)
        both = has[pairs] & has[pairs + 1]
        differs = chosen[pairs][both] != chosen[pairs + 1][both]
        return accuracy(averaged.tolist()), accuracy(differs.tolist())

    def summary(
        self, *, protocol: str | None = None, prices: PriceTable | None = None
    ) -> dict[str, Any]:
        """The generic part of summary.json (protocol measures and extras are added after)."""
        correct = np.frombuffer(self._correct, dtype=np.int8).astype(float)
        clusters = _first_seen_codes(self._cluster).tolist()
        overall = mean_estimate(correct, clusters=clusters) if correct.size else accuracy([])
        positions = accuracy_by_position(
            np.frombuffer(self._correct, dtype=np.int8).astype(bool).tolist(),
            list(self._position),
        )
        averaged, disagreement = self._swap_figures()
        usage = self.usage.copy()
        for failure in self._failure_usage.values():  # what failed units spent counts too
            usage.add(failure)
        totals: Counter[str] = Counter()
        for tokens in usage.by_role.values():
            totals.update(tokens)
        summary: dict[str, Any] = {
            "protocol": protocol or self.protocol,
            "n_units": self.n_units,
            "n_valid": self.n_valid,
            "n_invalid": self.n_judged - self.n_valid,
            "n_failed": len(self._failures),
            "n_tied": self.n_tied,
            "judge_accuracy": overall.value,
            "judge_accuracy_ci95": list(overall.ci95) if overall.ci95 else None,
            "judge_accuracy_n": overall.n,
            "accuracy_by_correct_position": {
                _label(position): estimate.as_dict() for position, estimate in positions.items()
            },
            "swap_averaged_accuracy": averaged.as_dict(),
            "swap_disagreement": disagreement.as_dict(),
            "usage": dict(totals),
            **usage.summary(prices),
            "stop_reasons": dict(self.stop_reasons),
            "judge_label_mass": mean_estimate(
                np.frombuffer(self._label_mass, dtype=np.float64)
            ).as_dict(),
            "n_parse_fallback": self.n_parse_fallback,
            "n_low_label_mass": self.n_low_label_mass,
            "n_confidence_contradicts": self.n_confidence_contradicts,
            "n_corrected": dict(self.corrected),
        }
        if len(self._answered):
            summary["answer_accuracy"] = self._answered.estimate().as_dict()
            summary["answer_ungraded"] = self._ungraded.estimate().as_dict()
        if len(self._same_side):
            summary["choices"] = {
                "same_side": self._same_side.estimate().as_dict(),
                "choice_accuracy": self._picks.estimate().as_dict(),
            }
        if self._failures:
            listed = list(self._failures.values())[:FAILURES_LISTED]
            summary["failures"] = listed
        return summary


def _label(position: int) -> str:
    from debate.core.record import LABELS

    return LABELS[position]
