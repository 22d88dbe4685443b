"""Answers and reports for the answer-improving debate family (MAD, Society of Minds,
SocraSynth) and their single-agent baseline.

- **Answers.** `read_answer` pulls the answer from a turn (`Answer: X`, a bare option
  label), and `grade` scores it against the scenario's gold lists with the shared
  grader (`debate.analysis.answers`), with `option:i` keys when an answer clearly
  chooses a shown option; an answer it cannot grade stays ungraded.
- **Votes.** `plurality` picks the unique most common answer key; a tie, or no readable
  answer at all, is reported as such and is never correct.
- **Outcome.** `set_final_answer` writes `state.final_answer` = {answer, key, correct,
  status, source, round}; status is `ok`, `tie`, `missing` or `invalid`, and only `ok`
  with a correct answer counts as correct.
- **Structured replies.** `schema_model` builds a pydantic model from a declared schema
  (`bool`, `text`, `int 1..10`, `number`, `one of: a, b`); `parse_structured` reads a
  JSON object or `key: value` lines and validates it; `parse_candidates` reads a list.
- **Report.** `family_summary` reads run records: accuracy of the final answer (95%
  bootstrap CI), statuses and sources, rounds used, how often an early stop fired,
  agreement over rounds, schedules and ratings; with a baseline run, the baseline's
  accuracy and the paired difference over shared scenarios.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from rich.table import Table

from debate.analysis.answers import Gold, bare_label, extract_answer, grade_answer
from debate.analysis.metrics import Estimate, accuracy, mean_estimate
from debate.core.scenarios import Scenario
from debate.core.store import load_run
from debate.errors import DebateInputError

_ANSWER_LINE = re.compile(r"(?im)\banswer\s*(?:is)?\s*[:\-]")
_ANSWER_PREFIX = re.compile(r"(?i)^(?:the\s+)?(?:final\s+)?answer\b\s*(?:is\b)?\s*[:\-]?\s*")
STATUSES = ("ok", "tie", "missing", "invalid")


# ----- answers -----------------------------------------------------------------------


def read_answer(text: str | None, require_line: bool = False) -> str | None:
    """The answer a turn gives (`debate.analysis.answers.extract_answer`): the last
    `Answer: ...` line, else the whole reply, so that weak models that skip the format are
    still graded against the gold lists. A bare label (`(B)`, `Answer: The answer is B`)
    becomes `B`; `B: some text` stays whole, and counts as option B only if the text is
    option B's (`grade_answer`). None for an empty reply or an empty `Answer:` line (a
    missing answer), and with `require_line` for a reply without an `Answer:` line (a
    judge asked for one)."""
    if not text or not text.strip():
        return None
    label = bare_label(text)
    if label:
        return label
    if require_line and not _ANSWER_LINE.search(text):
        return None
    answer = extract_answer(text)
    while answer and _ANSWER_PREFIX.match(answer):  # "Answer: Answer: B" -> "B"
        answer = _ANSWER_PREFIX.sub("", answer, count=1).strip().strip("\"'*").strip() or None
    if answer is None:
        return None
    return bare_label(answer) or answer


def gold_of(scenario: Scenario) -> Gold:
    return Gold.from_scenario(
        scenario.answers, scenario.correct_index, dict(scenario.fields), question=scenario.question
    )


def grade(answer: str | None, scenario: Scenario) -> dict[str, Any]:
    """{answer, key, correct}: `correct` is None when the answer cannot be graded."""
    graded = grade_answer(answer, gold_of(scenario))
    return {"answer": answer, "key": graded.key, "correct": graded.correct}


def plurality(keys: Sequence[str | None]) -> tuple[str | None, str]:
    """(winning key, status): the unique most common non-missing key and `ok`; None and
    `tie` when the top count is shared; None and `missing` when no key is readable."""
    counts = Counter(key for key in keys if key is not None)
    if not counts:
        return None, "missing"
    ranked = counts.most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None, "tie"
    return ranked[0][0], "ok"


def set_final_answer(
    state: dict[str, Any],
    graded: dict[str, Any] | None,
    *,
    status: str,
    source: str,
    round_: int,
    **extra: Any,
) -> dict[str, Any]:
    """Record the unit's final answer; `correct` is True only for status `ok`."""
    graded = graded or {"answer": None, "key": None, "correct": None}
    final = {
        **graded,
        "correct": bool(graded.get("correct")) if status == "ok" else False,
        "graded": graded.get("correct") is not None if status == "ok" else False,
        "status": status,
        "source": source,
        "round": round_,
        **extra,
    }
    state["final_answer"] = final
    return final


# ----- structured replies ----------------------------------------------------------

_FIELD_TYPE = re.compile(r"^(bool|text|int|number)(?:\s+(-?[\d.]+)\s*\.\.\s*(-?[\d.]+))?$")
_ONE_OF = re.compile(r"^one of\s*:\s*(.+)$")


def _field_type(spec: str) -> tuple[Any, Any]:
    """A schema entry (`bool`, `text`, `int 1..10`, `number`, `one of: a, b`) as a
    pydantic (type, FieldInfo) pair; ValueError for anything else."""
    spec = spec.strip()
    one_of = _ONE_OF.match(spec)
    if one_of:
        options = tuple(o.strip().lower() for o in one_of.group(1).split(",") if o.strip())
        return Literal[options], Field()  # type: ignore[valid-type]
    found = _FIELD_TYPE.match(spec)
    if not found:
        raise ValueError(f"unknown field type '{spec}' (bool, text, int, number, one of: ...)")
    kind, low, high = found.groups()
    types: dict[str, Any] = {"bool": bool, "text": str, "int": int, "number": float}
    if low is not None and kind in ("int", "number"):
        return types[kind], Field(ge=float(low), le=float(high))
    return types[kind], Field()


def schema_model(schema: dict[str, str]) -> type[BaseModel]:
    fields = {name: _field_type(spec) for name, spec in schema.items()}
    return create_model(  # type: ignore[call-overload,no-any-return]
        "StructuredReply", __config__=ConfigDict(extra="ignore"), **fields
    )


def _key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().strip("*\"'").lower())


def parse_structured(text: str, model: type[BaseModel]) -> tuple[dict[str, Any] | None, str]:
    """(fields, problem): a JSON object in the reply, else `key: value` lines, validated
    by `model`. Keys match case-insensitively with spaces as underscores; empty text
    values and `null` count as empty strings for text fields."""
    data: dict[str, Any] | None = None
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        try:
            loaded = json.loads(text[start : end + 1])
            data = loaded if isinstance(loaded, dict) else None
        except json.JSONDecodeError:
            data = None
    if data is None:
        data = {}
        for line in text.splitlines():
            name, colon, rest = line.partition(":")
            if colon and name.strip():
                data.setdefault(_key(name), rest.strip().strip("*\"'").strip())
    normalised = {_key(str(k)): v for k, v in data.items()}
    for name, field in model.model_fields.items():
        value = normalised.get(name)
        if field.annotation is str and value is None and name in normalised:
            normalised[name] = ""
        elif isinstance(value, str) and field.annotation is not str:
            normalised[name] = value.strip().rstrip(".").lower()
    try:
        return model.model_validate(normalised).model_dump(), ""
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return None, problems


def parse_candidates(text: str) -> list[str]:
    """Candidate answers from a list reply: bulleted or numbered lines, else `;`-separated."""
    items = [
        re.sub(r"^\s*(?:[-*•]|\d+[.)]|\(?[A-Z]\))\s*", "", line).strip()
        for line in text.splitlines()
        if re.match(r"^\s*(?:[-*•]|\d+[.)]|\(?[A-Z]\))\s+\S", line)
    ]
    if not items:
        items = [part.strip() for part in re.split(r"[;\n]", text) if part.strip()]
    unique: list[str] = []
    for item in items:
        if item.lower() not in (u.lower() for u in unique):
            unique.append(item)
    return unique


# ----- reports -----------------------------------------------------------------------


def _estimate(values: Sequence[float]) -> dict[str, object]:
    return mean_estimate(list(values)).as_dict()


def final_correct(record: dict[str, Any]) -> bool:
    final = (record.get("state") or {}).get("final_answer") or {}
    return bool(final.get("correct")) and final.get("status") == "ok"


def _agreement_by_round(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean agreement (share of voters holding the plurality key) per vote index."""
    by_index: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        for i, vote in enumerate((record.get("state") or {}).get("votes", [])):
            by_index[i].append(vote)
    rows = []
    for index in sorted(by_index):
        votes = by_index[index]
        rows.append(
            {
                "vote": index + 1,
                "round": Counter(v["round"] for v in votes).most_common(1)[0][0],
                "agreement": _estimate([v["agreement"] for v in votes]),
                "unanimous": _estimate([1.0 if v["unanimous"] else 0.0 for v in votes]),
                "n": len(votes),
            }
        )
    return rows


def _schedules(records: Sequence[dict[str, Any]]) -> dict[str, list[float]]:
    seen: dict[str, list[float]] = {}
    for record in records:
        for name, values in ((record.get("state") or {}).get("schedule") or {}).items():
            seen.setdefault(name, [entry["value"] for entry in values])
    return seen


def _ratings(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, object]]:
    scores: dict[str, list[float]] = defaultdict(list)
    for record in records:
        for entries in ((record.get("state") or {}).get("moderation") or {}).values():
            for entry in entries:
                for result in entry["results"]:
                    for field, value in (result.get("fields") or {}).items():
                        if field.startswith("score") and isinstance(value, int | float):
                            scores[field].append(float(value))
    return {field: _estimate(values) for field, values in sorted(scores.items())}


def family_summary(
    records: Sequence[dict[str, Any]], baseline: Sequence[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Every figure of a family report, JSON-serialisable."""
    finals = [(r.get("state") or {}).get("final_answer") for r in records]
    statuses = Counter((f or {}).get("status", "invalid") for f in finals)
    sources = Counter((f or {}).get("source", "none") for f in finals if f)
    stops = Counter(r.get("stop_reason") or "completed" for r in records)
    early = [1.0 if (r.get("stop_reason") or "completed") != "completed" else 0.0 for r in records]
    clusters = [r["scenario_id"] for r in records]
    summary: dict[str, Any] = {
        "protocol": records[0]["protocol"] if records else None,
        "n_units": len(records),
        "accuracy": accuracy([final_correct(r) for r in records], clusters=clusters).as_dict(),
        "ungraded": accuracy(
            [not (f and f.get("graded")) for f in finals], clusters=clusters
        ).as_dict(),
        "graded_answers": sum(1 for f in finals if f and f.get("graded")),
        "status": {status: statuses.get(status, 0) for status in STATUSES},
        "source": dict(sources),
        "rounds": _estimate([float(r.get("rounds", 0)) for r in records]),
        "rounds_histogram": dict(sorted(Counter(int(r.get("rounds", 0)) for r in records).items())),
        "early_stop": _estimate(early),
        "stop_reasons": dict(stops),
        "agreement_by_vote": _agreement_by_round(records),
        "schedules": _schedules(records),
        "ratings": _ratings(records),
    }
    if baseline is not None:
        summary["baseline"] = compare_to_baseline(records, baseline)
    return summary


def compare_to_baseline(
    records: Sequence[dict[str, Any]], baseline: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """Baseline accuracy and the paired difference (protocol - baseline) per scenario."""
    ours = _by_scenario(records)
    theirs = _by_scenario(baseline)
    shared = sorted(set(ours) & set(theirs))
    differences = [ours[s] - theirs[s] for s in shared]
    base_clusters = [r["scenario_id"] for r in baseline]
    base = accuracy([final_correct(r) for r in baseline], clusters=base_clusters)
    return {
        "protocol": baseline[0]["protocol"] if baseline else None,
        "accuracy": base.as_dict(),
        "shared_scenarios": len(shared),
        "protocol_accuracy_shared": _estimate([ours[s] for s in shared]),
        "baseline_accuracy_shared": _estimate([theirs[s] for s in shared]),
        "difference": _estimate(differences),
    }


def _by_scenario(records: Sequence[dict[str, Any]]) -> dict[str, float]:
    grouped: dict[str, list[float]] = defaultdict(list)
    for record in records:
        grouped[record["scenario_id"]].append(1.0 if final_correct(record) else 0.0)
    return {sid: sum(values) / len(values) for sid, values in grouped.items()}


def format_estimate(value: dict[str, object] | Estimate) -> str:
    data = value.as_dict() if isinstance(value, Estimate) else value
    point, ci, n = data.get("value"), data.get("ci95"), data.get("n")
    if not isinstance(point, float) or not isinstance(ci, list):
        return f"n/a (n={n})"
    return f"{point:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] (n={n})"


def load_family_run(directory: Path) -> list[dict[str, Any]]:
    """The records of a run whose units record a final answer (`state.final_answer`)."""
    records, _failures = load_run(directory)
    if not records:
        raise DebateInputError(f"{directory}: the run has no finished units")
    if not any((r.get("state") or {}).get("final_answer") for r in records):
        raise DebateInputError(
            f"{directory}: no unit records a final answer (state.final_answer); "
            "run a protocol with a final `vote`, `moderate` or `settle` step"
        )
    return records


def render_family_summary(summary: dict[str, Any]) -> list[Table]:
    """Rich tables: headline figures, agreement over rounds, ratings."""
    head = Table(title=f"{summary['protocol']}: final answers ({summary['n_units']} units)")
    head.add_column("figure")
    head.add_column("value")
    head.add_row("accuracy", format_estimate(summary["accuracy"]))
    if "ungraded" in summary:  # reports written before it was measured lack it
        head.add_row("  ungraded final answers", format_estimate(summary["ungraded"]))
    baseline = summary.get("baseline")
    if baseline:
        head.add_row(f"baseline ({baseline['protocol']})", format_estimate(baseline["accuracy"]))
        head.add_row("difference (paired, shared)", format_estimate(baseline["difference"]))
    head.add_row("answers matched to gold", str(summary["graded_answers"]))
    head.add_row("status", ", ".join(f"{k} {v}" for k, v in summary["status"].items()))
    head.add_row("decided by", ", ".join(f"{k} {v}" for k, v in summary["source"].items()))
    head.add_row("rounds used", format_estimate(summary["rounds"]))
    head.add_row(
        "rounds histogram", ", ".join(f"{k}: {v}" for k, v in summary["rounds_histogram"].items())
    )
    head.add_row("early stop", format_estimate(summary["early_stop"]))
    head.add_row("stop reasons", ", ".join(f"{k} {v}" for k, v in summary["stop_reasons"].items()))
    for name, values in summary["schedules"].items():
        head.add_row(f"schedule {name}", ", ".join(f"{v:g}" for v in values))
    tables = [head]
    if summary["agreement_by_vote"]:
        agreement = Table(title="agreement over rounds")
        for column in ("vote", "round", "agreement", "unanimous", "n"):
            agreement.add_column(column)
        for row in summary["agreement_by_vote"]:
            agreement.add_row(
                str(row["vote"]),
                str(row["round"]),
                format_estimate(row["agreement"]),
                format_estimate(row["unanimous"]),
                str(row["n"]),
            )
        tables.append(agreement)
    if summary["ratings"]:
        ratings = Table(title="ratings")
        ratings.add_column("field")
        ratings.add_column("mean")
        for field, estimate in summary["ratings"].items():
            ratings.add_row(field, format_estimate(estimate))
        tables.append(ratings)
    return tables
