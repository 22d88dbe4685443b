"""Token and cost accounting: the price table, usage sums per role and model, budgets."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from debate.analysis.report import summarize
from debate.core.costs import Budget, CostMeter, PriceTable, UsageTally, load_prices
from debate.core.engine import Engine, ModelBindings
from debate.core.loading import load_protocol
from debate.core.planning import plan_units
from debate.core.scenarios import Scenario
from debate.core.store import RunStore
from debate.errors import DebateInputError
from debate.models.base import Completion, Usage
from debate.models.cache import CachedModel
from debate.models.openai_parse import usage_of
from debate.models.scripted import ScriptedModel

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "prices.example.yaml"


def table(**prices: dict[str, float]) -> PriceTable:
    return PriceTable.model_validate({"date": "2026-11-30", "prices": prices})


def test_cached_prompt_tokens_are_read_from_an_openai_usage_block() -> None:
    raw = {
        "prompt_tokens": 2006,
        "completion_tokens": 300,
        "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
    }
    assert usage_of(raw) == Usage(2006, 300, 1920)
    assert usage_of({"prompt_tokens": 5, "prompt_tokens_details": None}) == Usage(5, 0, 0)
    stored = Completion(text="x", model="m", usage=Usage(10, 2, 8))
    assert Completion.from_json(stored.to_json()).usage == Usage(10, 2, 8)


def test_price_charges_cached_tokens_at_the_cached_rate() -> None:
    prices = table(m={"input": 2.0, "cached_input": 0.5, "output": 8.0})
    price = prices.price_of("m")
    assert price is not None
    tokens = {"prompt_tokens": 1_000_000, "cached_prompt_tokens": 400_000, "completion_tokens": 0}
    assert price.dollars(tokens) == pytest.approx(0.6 * 2.0 + 0.4 * 0.5)
    no_cache_price = table(m={"input": 2.0, "output": 8.0}).price_of("m")
    assert no_cache_price is not None and no_cache_price.dollars(tokens) == pytest.approx(2.0)
    assert prices.price_of("openai/m") is None  # exact model strings only: never a guess


def test_the_example_price_table_loads_and_is_dated() -> None:
    prices = load_prices(EXAMPLE)
    assert prices.date and len(prices.prices) >= 4
    assert prices.price_of("openai/gpt-4o-mini") is not None


def test_a_bad_price_table_is_one_line_naming_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("date: 2026-01-01\nprices:\n  m: {input: -1, output: 2}\n")
    with pytest.raises(DebateInputError) as caught:
        load_prices(path)
    assert caught.value.lines == [
        f"{path}: prices.m.input: Input should be greater than or equal to 0"
    ]
    path.write_text("prices: {}\n")
    with pytest.raises(DebateInputError, match="date: Field required"):
        load_prices(path)
    with pytest.raises(DebateInputError, match="cannot read price table"):
        load_prices(tmp_path / "missing.yaml")


def record(role_models: dict[str, str], tokens: dict[str, tuple[int, int, int]]) -> dict:
    return {
        "id": "u",
        "models": role_models,
        "usage": {
            role: {"prompt_tokens": p, "cached_prompt_tokens": c, "completion_tokens": o}
            for role, (p, c, o) in tokens.items()
        },
    }


def test_tokens_per_role_and_model_and_cost_only_where_priced() -> None:
    tally = UsageTally()
    models = {"debater_a": "paid", "debater_b": "paid", "judge": "free-unlisted"}
    tally.add(record(models, {"debater_a": (100, 0, 10), "judge": (50, 0, 1)}))
    tally.add(record(models, {"debater_a": (100, 60, 10), "debater_b": (80, 0, 8)}))
    summary = tally.summary(table(paid={"input": 1.0, "cached_input": 0.1, "output": 10.0}))
    assert summary["tokens"]["by_role"]["debater_a"] == {
        "prompt_tokens": 200,
        "cached_prompt_tokens": 60,
        "completion_tokens": 20,
    }
    assert summary["tokens"]["by_model"]["paid"]["prompt_tokens"] == 280
    assert summary["tokens"]["by_model"]["free-unlisted"]["prompt_tokens"] == 50
    expected = ((280 - 60) * 1.0 + 60 * 0.1 + 28 * 10.0) / 1e6
    cost = summary["cost"]
    assert cost["by_model_usd"] == {"paid": pytest.approx(expected)}
    assert cost["unpriced_models"] == ["free-unlisted"] and cost["complete"] is False
    assert "cost" not in tally.summary(None)  # no price table: tokens only


def test_budget_waits_for_a_first_estimate_then_admits_what_fits() -> None:
    meter = CostMeter(table(m={"input": 1.0, "output": 1.0}))
    budget = Budget(meter, max_cost=0.001)  # 1000 tokens' worth
    assert budget.decide(0) is True
    assert budget.decide(1) is None  # nothing finished yet: wait
    meter.add(record({"r": "m"}, {"r": (200, 0, 50)}))  # 250 tokens
    assert budget.decide(0) is True and budget.decide(2) is True  # 250 + 3 * 250 <= 1000
    assert budget.decide(3) is False  # 250 + 4 * 250 > 1000
    assert budget.decide(0) is False  # once reached, the budget stays reached
    assert Budget(CostMeter()).decide(100) is True  # no limit


def test_a_cost_budget_needs_a_price_for_every_model() -> None:
    with pytest.raises(DebateInputError, match="needs a price table"):
        Budget(CostMeter(), max_cost=1.0).check_priced(["m"])
    with pytest.raises(DebateInputError, match="no price for other"):
        Budget(CostMeter(table(m={"input": 1, "output": 1})), max_cost=1.0).check_priced(
            ["m", "other"]
        )
    Budget(CostMeter(), max_tokens=10).check_priced(["m"])  # tokens need no price


def scenarios(n: int) -> list[Scenario]:
    return [
        Scenario(id=f"q{i}", question=f"Is {i} even?", answers=["yes", "no"], correct_index=i % 2)
        for i in range(n)
    ]


def test_engine_stops_scheduling_at_a_token_budget_and_finishes_what_is_in_flight(
    tmp_path: Path,
) -> None:
    bundle = load_protocol("debate")
    plans = plan_units(bundle, scenarios(40), seed=1)
    meter = CostMeter()
    engine = Engine(
        bundle,
        ModelBindings({}, default="scripted/latency-2"),
        store=RunStore(tmp_path / "run"),
        concurrency=4,
        budget=Budget(meter, max_tokens=20_000),
        keep_records=False,
    )
    asyncio.run(engine.run(plans))
    engine.store.close()  # type: ignore[union-attr]
    written = [json.loads(line) for line in (tmp_path / "run" / "transcripts.jsonl").open()]
    assert engine.stop_reason == "budget"
    assert 0 < len(written) < len(plans)
    spent = sum(
        counts["prompt_tokens"] + counts["completion_tokens"]
        for r in written
        for counts in r["usage"].values()
    )
    assert meter.tokens == spent
    per_unit = spent / len(written)
    # it stopped when the next unit would pass the budget, letting only in-flight units finish
    assert spent + per_unit > 20_000 - 4 * per_unit
    assert spent <= 20_000 + 4 * per_unit
    assert engine.records == []  # with a store, records are not kept in memory


def test_local_cache_hits_are_replayed_tokens_not_billed(tmp_path: Path) -> None:
    bundle = load_protocol("direct-qa")
    plans = plan_units(bundle, scenarios(3), seed=1)

    def wrap(model: ScriptedModel) -> CachedModel:
        return CachedModel(model, tmp_path / "cache")

    first = Engine(bundle, ModelBindings({}, default="scripted", wrap=wrap))  # type: ignore[arg-type]
    asyncio.run(first.run(plans))
    again = Engine(bundle, ModelBindings({}, default="scripted", wrap=wrap))  # type: ignore[arg-type]
    asyncio.run(again.run(plans))
    billed = summarize(first.records)["tokens"]["by_model"]["scripted"]
    replayed = summarize(again.records)["tokens"]["by_model"]["scripted"]
    assert billed["prompt_tokens"] > 0 and "replayed_tokens" not in billed
    assert replayed["prompt_tokens"] == 0 and replayed["completion_tokens"] == 0
    assert replayed["replayed_tokens"] == billed["prompt_tokens"] + billed["completion_tokens"]


def test_a_bench_budget_covers_all_cells_and_resumes(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from debate.bench.experiment import Experiment, run_bench

    def bench(max_tokens: int, resume: bool) -> dict:
        experiment = Experiment(
            protocols=["debate", "consultancy"], limit=10, max_tokens=max_tokens
        )
        quiet = Console(file=io.StringIO(), width=160)
        return run_bench(experiment, tmp_path / "bench", resume=resume, console=quiet)

    capped = bench(20_000, resume=False)
    assert capped["stop_reason"] == "budget"
    spent = capped["budget"]["spent_tokens"]
    units = sum(cell["metrics"]["n_units"] for cell in capped["cells"])
    assert 0 < units < 40 and spent <= 20_000 + 32 * spent / units  # at most one batch past
    finished = bench(10_000_000, resume=True)
    assert finished["stop_reason"] == "completed"
    assert [cell["metrics"]["n_units"] for cell in finished["cells"]] == [20, 20]


def test_a_judge_study_budget_covers_all_judges_and_resumes(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from debate.bench.judging import JudgeSettings, judge_study
    from debate.runner import RunOptions, execute_run

    source = tmp_path / "source"
    quiet = Console(file=io.StringIO())
    options = RunOptions(protocol="debate", limit=12, default_model="scripted", out=source)
    assert execute_run(options, quiet)["n_units"] == 24
    judges = {"j1": "scripted/j1", "j2": "scripted/j2"}

    def study(max_tokens: int, resume: bool) -> dict:
        settings = JudgeSettings(resume=resume, concurrency=2, max_tokens=max_tokens)
        return judge_study(source, judges, tmp_path / "judged", settings)

    capped = study(8_000, resume=False)  # each judge spends about 6,500 tokens on 24 units
    assert capped["stop_reason"] == "budget" and capped["budget"]["spent_tokens"] > 0
    judged = sum(j["n_units"] or 0 for j in capped["judges"].values())
    assert 0 < judged < 48
    finished = study(10_000_000, resume=True)
    assert finished["stop_reason"] == "completed"
    assert [j["n_units"] for j in finished["judges"].values()] == [24, 24]
    spent = finished["budget"]["spent_tokens"]
    judge_tokens = sum(
        counts["prompt_tokens"] + counts["completion_tokens"]
        for label in judges
        for line in (tmp_path / "judged" / label / "transcripts.jsonl").open()
        for counts in json.loads(line)["usage"].values()
    )
    assert spent == judge_tokens


def test_judge_and_bench_commands_exit_4_at_their_budget(tmp_path: Path) -> None:
    from conftest import run_cli

    source = tmp_path / "source"
    made = run_cli("run", "debate", "-m", "scripted", "--limit", "6", "--out", str(source))
    assert made.returncode == 0, made.stderr
    args = ["judge", str(source), "-j", "scripted/j1", "-j", "scripted/j2", "--max-tokens", "2500"]
    judged = run_cli(*args, "--out", str(tmp_path / "judged"))
    assert judged.returncode == 4, (judged.stdout[-1500:], judged.stderr[-1500:])
    assert "budget reached" in judged.stdout
    study = json.loads((tmp_path / "judged" / "judges.json").read_text())
    assert study["stop_reason"] == "budget"
    bench = run_cli(
        "bench", "-p", "direct-qa", "-p", "debate", "--limit", "4", "--max-tokens", "3000",
        "--out", str(tmp_path / "bench"),
    )  # fmt: skip
    assert bench.returncode == 4, (bench.stdout[-1500:], bench.stderr[-1500:])
    bad = run_cli(
        "run", "debate", "-m", "scripted", "--max-cost", "-1", "--out", str(tmp_path / "x")
    )
    assert bad.returncode == 2 and "--max-cost: must be a positive number" in bad.stderr
