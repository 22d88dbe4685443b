"""Memory bounded by what is in flight: lazy plans, records dropped once written, a store
that keeps only resumed ids, and summaries computed in one pass over the records."""

from __future__ import annotations

import asyncio
import gc
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from debate.analysis.report import summarize, summarize_run
from debate.core.engine import Engine, ModelBindings
from debate.core.events import Event, UnitFinished, UnitStarted
from debate.core.loading import load_protocol
from debate.core.planning import ScenarioChecks, UnitPlan, iter_plans, plan_units
from debate.core.scenarios import Scenario, stream_scenarios
from debate.core.store import RunStore, _repair_tail, read_ids
from debate.errors import DebateInputError
from debate.models.base import GenerateConfig


def scenarios(n: int, prefix: str = "q") -> list[Scenario]:
    return [
        Scenario(
            id=f"{prefix}{i}", question=f"Is {i} even?", answers=["yes", "no"], correct_index=i % 2
        )
        for i in range(n)
    ]


def write_questions(path: Path, n: int) -> Path:
    with path.open("w") as handle:
        for item in scenarios(n):
            handle.write(item.model_dump_json(include={"id", "question", "answers"}) + "\n")
    return path


def test_the_engine_takes_plans_only_as_units_start(tmp_path: Path) -> None:
    bundle = load_protocol("debate")
    taken = 0
    taken_at_first_finish: list[int] = []

    def plans() -> Iterator[UnitPlan]:
        nonlocal taken
        for plan in iter_plans(bundle, scenarios(60)):
            taken += 1
            yield plan

    def watch(event: Event) -> None:
        if isinstance(event, UnitFinished) and not taken_at_first_finish:
            taken_at_first_finish.append(taken)

    engine = Engine(
        bundle,
        ModelBindings({}, default="scripted/latency-1"),
        store=RunStore(tmp_path / "run"),
        concurrency=5,
        subscribers=[watch],
        keep_records=False,
    )
    asyncio.run(engine.run(plans()))
    engine.store.close()  # type: ignore[union-attr]
    assert taken == 120 and taken_at_first_finish[0] <= 6
    assert engine.records == [] and engine.failures == []
    assert engine.store.written == 120 and engine.store.done == set()  # type: ignore[union-attr]


def test_memory_kept_after_a_run_does_not_grow_with_its_units(tmp_path: Path) -> None:
    bundle = load_protocol("debate")

    def reply(messages: object, config: GenerateConfig) -> str:
        return "Answer: A" if config.choices else "The evidence points one way."

    def retained(n: int) -> int:
        # a responder, so that no model-side cache (bounded, but large next to a small
        # run) is counted: what is measured is the engine and the store
        engine = Engine(
            bundle,
            ModelBindings({}, default="scripted", options={"responder": reply}),
            store=RunStore(tmp_path / f"run{n}"),
            concurrency=32,
            keep_records=False,
        )
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        asyncio.run(engine.run(iter_plans(bundle, scenarios(n, prefix=f"n{n}-"))))
        engine.store.close()  # type: ignore[union-attr]
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
        del engine
        return kept

    tracemalloc.start()
    try:
        retained(50)  # warm caches (templates, imports) first
        small, large = retained(100), retained(700)
    finally:
        tracemalloc.stop()
    per_unit = (large - small) / (2 * (700 - 100))
    assert per_unit < 200, f"{per_unit:.0f} bytes kept per unit after the run"


def test_the_store_keeps_resumed_ids_only_and_reads_them_without_records(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    odd = {"id": 'a "quoted" \\ id/é', "text": "x" * 100}
    store.append(odd)
    store.append({"text": "id not first", "id": "late"})
    assert store.done == set() and store.written == 2
    store.close()
    again = RunStore(tmp_path, resume=True)
    assert again.done == {odd["id"], "late"}
    again.append(odd)  # finished before: skipped
    again.close()
    assert list(read_ids(tmp_path / "transcripts.jsonl")) == [odd["id"], "late"]


def test_a_torn_last_line_longer_than_the_read_block_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "torn", "text": "' + "y" * 5000)
    _repair_tail(path, block=64)
    assert path.read_text() == '{"id": "a"}\n{"id": "b"}\n'
    path.write_text('{"id": "only", "torn": true')
    _repair_tail(path, block=8)
    assert path.read_text() == ""


def test_summary_is_one_pass_and_equals_the_in_memory_one() -> None:
    bundle = load_protocol("debate")
    plans = plan_units(bundle, scenarios(30), seed=3, repeats=2)
    engine = Engine(bundle, ModelBindings({"judge": "scripted/invalid"}, default="scripted"))
    engine_valid = Engine(bundle, ModelBindings({}, default="scripted"))
    asyncio.run(engine.run(plans[:40]))
    asyncio.run(engine_valid.run(plans[40:]))
    records = engine.records + engine_valid.records
    failures = [{"id": "debate/q99/orig", "error": "boom"}]

    def once() -> Iterator[dict]:
        yield from records

    streamed = summarize(once(), failures, protocol="debate")
    assert streamed == summarize(list(records), failures, protocol="debate")
    assert streamed["n_units"] == 120 and streamed["n_invalid"] == 40
    assert streamed["swap_averaged_accuracy"]["n"] == 40  # 60 groups, 20 with invalid verdicts
    # computed here the plain way: both orders of a question judged, the chosen answers
    groups: dict[tuple[str, int], list[str | None]] = {}
    for r in records:
        final = r["final_verdict"]
        chosen = final["chosen"] if final["valid"] else None
        answer = r["answers"][chosen] if chosen is not None else None
        groups.setdefault((r["scenario_id"], r["repeat"]), []).append(answer)
    pairs = [(a, b) for a, b in groups.values() if a is not None and b is not None]
    assert streamed["swap_disagreement"]["n"] == len(pairs)
    assert streamed["swap_disagreement"]["value"] == pytest.approx(
        sum(a != b for a, b in pairs) / len(pairs)
    )
    assert streamed["n_failed"] == 1 and streamed["failures"][0]["error"] == "boom"
    finished = [{"id": records[0]["id"], "error": "failed once, then finished"}]
    assert summarize(once(), finished)["n_failed"] == 0


def test_a_scenario_stream_is_checked_once_and_reread(tmp_path: Path) -> None:
    path = write_questions(tmp_path / "q.jsonl", 7)
    seen: list[str] = []
    stream = stream_scenarios(str(path), limit=5, check=lambda s: seen.append(s.id))
    assert len(stream) == 5 and seen == [f"q{i}" for i in range(5)]
    assert [s.id for s in stream] == [s.id for s in stream] == seen
    with path.open("a") as handle:
        handle.write(json.dumps({"id": "q1", "question": "again?", "answers": ["a", "b"]}) + "\n")
    with pytest.raises(DebateInputError, match="duplicate scenario id 'q1'"):
        stream_scenarios(str(path))


def test_scenario_problems_fail_before_any_unit_runs(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    rows = [{"id": "ok", "question": "?", "answers": ["a", "b"]}]
    rows += [{"id": f"short{i}", "question": "?", "answers": ["only"]} for i in range(7)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    checks = ScenarioChecks(load_protocol("debate"))
    stream_scenarios(str(path), check=checks)
    with pytest.raises(DebateInputError) as caught:
        checks.raise_any()
    lines = caught.value.lines
    assert len(lines) == 6 and lines[-1] == "... and 2 more"
    assert "line 2" in lines[0] and "defends is answer 1" in lines[0]


def test_summarize_run_streams_records_from_disk(tmp_path: Path) -> None:
    bundle = load_protocol("debate")
    store = RunStore(tmp_path)
    engine = Engine(bundle, ModelBindings({}, default="scripted"), store=store)
    asyncio.run(engine.run(iter_plans(bundle, scenarios(10))))
    store.close()
    summary = summarize_run(tmp_path, measures=[])
    records = [json.loads(line) for line in (tmp_path / "transcripts.jsonl").open()]
    assert summary == summarize(records, protocol=None, measures=[])
    assert set(summary["tokens"]["by_role"]) == {"debater_a", "debater_b", "judge"}


def test_export_prefs_streams_trees_and_writes_what_the_in_memory_rows_give(
    tmp_path: Path,
) -> None:
    from test_pbt import capital, run_protocol, tree_script

    from debate.pbt.evaluation import export_preferences, load_trees
    from debate.pbt.trees import preference_rows

    questions = [capital("q1"), capital("q2")]
    run_protocol("pbt-tree", tree_script, questions, tmp_path / "r")
    trees = [tree for _, tree in load_trees(tmp_path / "r")]
    for balanced in (False, True):
        out = tmp_path / f"prefs-{balanced}.jsonl"
        counts = export_preferences(tmp_path / "r", out, balanced=balanced, seed=3)
        rows, expected = preference_rows(trees, balanced=balanced, seed=3)
        assert [json.loads(line) for line in out.read_text().splitlines()] == rows
        assert counts == {"n_rows": len(rows), "trees": 2, "balanced": balanced, **expected}


def test_a_live_view_of_a_long_run_holds_only_the_latest_finished_units() -> None:
    from debate.live.state import KEEP_FINISHED, LiveState

    state = LiveState(total=1000)
    for number in range(1000):
        unit = f"u{number}"
        state.apply(UnitStarted(unit, "debate", "?", ("a", "b"), ("judge",), 1))
        state.apply(UnitFinished(unit, {"id": unit, "correct": True}))
    assert state.done == 1000 and len(state.units) <= KEEP_FINISHED + 1
    assert state.units["u999"].index == 1000


def test_logicom_summary_keeps_only_what_its_measure_reads() -> None:
    from debate.logicom.measures import convinced_figures, debate_facts

    def record(number: int, condition: str, convinced: bool) -> dict:
        return {
            "id": f"logicom/c{number}/{condition}",
            "scenario_id": f"c{number}",
            "variant": {"condition": condition},
            "repeat": 0,
            "stop_reason": "convinced" if convinced else "max_rounds",
            "rounds": 3,
            "models": {"debater": "scripted"},
            "state": {"checks": {"convinced": [False, convinced]}, "transcript": "x" * 500},
            "messages": [
                {
                    "role": "persuader",
                    "text": "long speech " * 50,
                    "meta": {"fallacy": "ad_hominem"},
                },
                {"role": "debater", "text": "reply"},
            ],
        }

    records = [
        record(i, c, (i + len(c)) % 3 == 0) for i in range(6) for c in ("logical", "fallacy")
    ]
    figures = convinced_figures(records)
    assert figures is not None and figures["scripted"]["convinced_rate"]
    assert convinced_figures([debate_facts(r) for r in records]) == figures
    assert len(json.dumps(debate_facts(records[0]))) < len(json.dumps(records[0])) / 5
