"""Paired comparisons of a benchmark's cells, and how many debater calls it made.

- Judges: cells that share (protocol, debaters, scenario set, seed) hold the same debates
  when judges share them (`reuse_debates`), so two judges are compared unit by unit;
  pooled over debaters, scenario sets and seeds per (protocol, judge a, judge b).
- Protocols: cells that share (judge, scenario set, seed), and the same debaters (a
  protocol without speakers pairs with any), ran the same questions, so two protocols
  are compared question by question (both answer orders averaged); pooled per
  (judge, debaters, protocol a, protocol b).

Each difference is a - b in accuracy with a 95% paired bootstrap CI that resamples
questions (`debate.analysis.paired`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from itertools import combinations
from typing import Any

from rich.table import Table

from debate.analysis.paired import (
    PairedItems,
    paired_difference,
    paired_items,
    question_key,
    unit_key,
)
from debate.core.loading import load_protocol

Result = dict[str, Any]


def _tagged(result: Result, group: Hashable) -> list[dict[str, Any]]:
    return [
        {
            **record,
            "bench_group": group,
            "bench_cluster": f"{result['scenarios']}/{record['scenario_id']}",
        }
        for record in result["_records"]
    ]


def _merge(parts: Sequence[PairedItems]) -> PairedItems:
    return PairedItems(
        a=[x for part in parts for x in part.a],
        b=[x for part in parts for x in part.b],
        clusters=[c for part in parts for c in part.clusters],
    )


def judge_differences(results: Sequence[Result], resamples: int) -> list[dict[str, Any]]:
    """Paired judge differences on the same units, per protocol and pair of judges."""
    groups: dict[tuple[str, str, str, int], list[Result]] = defaultdict(list)
    for result in results:
        groups[
            (result["protocol"], result["debaters"], result["scenarios"], result["seed"])
        ].append(result)
    pooled: dict[tuple[str, str, str], list[PairedItems]] = defaultdict(list)
    for key, members in groups.items():
        for first, second in combinations(members, 2):
            items = paired_items(_tagged(first, key), _tagged(second, key), unit_key)
            pooled[(key[0], first["judge"], second["judge"])].append(items)
    return [
        {
            "protocol": protocol,
            "a": judge_a,
            "b": judge_b,
            **paired_difference(_merge(parts), resamples=resamples),
        }
        for (protocol, judge_a, judge_b), parts in pooled.items()
    ]


def protocol_differences(results: Sequence[Result], resamples: int) -> list[dict[str, Any]]:
    """Paired protocol differences on the same questions, per judge, debaters and pair."""
    groups: dict[tuple[str, str, int], list[Result]] = defaultdict(list)
    for result in results:
        groups[(result["judge"], result["scenarios"], result["seed"])].append(result)
    pooled: dict[tuple[str, str, str, str], list[PairedItems]] = defaultdict(list)
    for key, members in groups.items():
        for first, second in combinations(members, 2):
            if first["protocol"] == second["protocol"]:
                continue
            debaters = {first["debaters"], second["debaters"]} - {"-"}
            if len(debaters) > 1:
                continue
            label = next(iter(debaters), "-")
            items = paired_items(_tagged(first, key), _tagged(second, key), question_key)
            pooled[(key[0], label, first["protocol"], second["protocol"])].append(items)
    return [
        {
            "judge": judge,
            "debaters": debaters,
            "a": protocol_a,
            "b": protocol_b,
            **paired_difference(_merge(parts), resamples=resamples),
        }
        for (judge, debaters, protocol_a, protocol_b), parts in pooled.items()
    ]


def _agent_roles(protocol: str, known: dict[str, set[str]]) -> set[str]:
    if protocol not in known:
        roles = load_protocol(protocol).protocol.roles
        known[protocol] = {name for name, role in roles.items() if role.agent is not None}
    return known[protocol]


def calls_of(records: Sequence[dict[str, Any]], roles: set[str]) -> int:
    """Model calls the given roles made in these records (their messages, for records
    written before usage counted calls)."""
    total = 0
    for record in records:
        usage = record.get("usage") or {}
        if any("calls" in counts for counts in usage.values()):
            total += sum(int((usage.get(role) or {}).get("calls", 0)) for role in roles)
        else:
            total += sum(1 for m in record.get("messages") or [] if m.get("role") in roles)
    return total


def debater_calls(results: Sequence[Result]) -> dict[str, int]:
    """Debater calls this benchmark's cells made, and how many they would have made had
    every judge's cell generated its own debates (a judged cell would have made as many
    as the cell it was judged from)."""
    known: dict[str, set[str]] = {}
    made: dict[str, int] = {}
    for result in results:
        made[result["dir"]] = calls_of(result["_records"], _agent_roles(result["protocol"], known))
    without = sum(made.get(result.get("judged_from") or result["dir"], 0) for result in results)
    return {"made": sum(made.values()), "without_reuse": without}


def _fmt(estimate: dict[str, Any]) -> str:
    if estimate.get("value") is None:
        return "n/a"
    ci = estimate.get("ci95") or [estimate["value"]] * 2
    return f"{estimate['value']:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]"


_HEADERS = ["a − b (95% CI)", "items", "questions", "a better", "b better"]


def _figures(row: dict[str, Any]) -> list[str]:
    return [
        _fmt(row["difference"]),
        str(row["n"]),
        str(row["questions"]),
        str(row["a_better"]),
        str(row["b_better"]),
    ]


def comparison_markdown(result: dict[str, Any]) -> list[str]:
    """The report.md sections: paired differences and the debater-call note."""
    lines: list[str] = []
    paired = result.get("paired") or {}
    if paired.get("judges"):
        lines += [
            "",
            "## Judges on the same debates (paired)",
            "",
            "Accuracy of judge a minus judge b on the same units (items), with a 95% paired "
            "bootstrap CI over questions; a/b better: units one judge got right and the other "
            "not.",
            "",
            "| protocol | judge a | judge b | " + " | ".join(_HEADERS) + " |",
            "|" + "---|" * (3 + len(_HEADERS)),
        ]
        lines += [
            f"| {r['protocol']} | {r['a']} | {r['b']} | " + " | ".join(_figures(r)) + " |"
            for r in paired["judges"]
        ]
    if paired.get("protocols"):
        lines += [
            "",
            "## Protocols on the same questions (paired)",
            "",
            "Accuracy under protocol a minus protocol b on the same questions (both answer "
            "orders averaged per question: the items), with a 95% paired bootstrap CI over "
            "questions; a/b better: questions where one protocol's accuracy is higher.",
            "",
            "| judge | debaters | protocol a | protocol b | " + " | ".join(_HEADERS) + " |",
            "|" + "---|" * (4 + len(_HEADERS)),
        ]
        lines += [
            f"| {r['judge']} | {r['debaters']} | {r['a']} | {r['b']} | "
            + " | ".join(_figures(r))
            + " |"
            for r in paired["protocols"]
        ]
    calls = result.get("debater_calls")
    if calls:
        lines += [
            "",
            f"Debater calls: {calls['made']} made by this benchmark; {calls['without_reuse']} "
            "if every judge's cells had generated their own debates.",
        ]
    return lines


def paired_table(rows: Sequence[dict[str, Any]], keys: Sequence[str], title: str) -> Table:
    table = Table(title=title)
    for key in keys:
        table.add_column(key, overflow="fold")
    for header in _HEADERS:
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(*[str(row[key]) for key in keys], *_figures(row))
    return table
