"""Justifiable decisions with evidence debates (issue 10): environment, judge, debate,
arguers, fitted-Q policy, the lambda sweep and its CLI. CPU only, seconds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from debate.errors import DebateInputError  # noqa: E402
from debate.justify.arguers import (  # noqa: E402
    GreedyArguer,
    MinimaxArguer,
    RandomArguer,
    train_learned_arguer,
)
from debate.justify.env import DecisionEnv, EnvConfig, load_tabular  # noqa: E402
from debate.justify.experiment import (  # noqa: E402
    JustifiableConfig,
    parse_lambdas,
    run_justifiable,
)
from debate.justify.game import (  # noqa: E402
    Arguer,
    debate_reward,
    mix_rewards,
    run_evidence_debate,
    zero_sum,
)
from debate.justify.judge import (  # noqa: E402
    JudgeMLP,
    JudgeTraining,
    expert_preferences,
    load_judge,
    pairwise_accuracy,
    save_judge,
    train_judge,
)
from debate.justify.policy import QTraining, fit_q  # noqa: E402
from debate.justify.report import t_interval  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


# ---------------------------------------------------------------- environment


def test_same_seed_gives_identical_arrays() -> None:
    first, second = DecisionEnv(seed=3), DecisionEnv(seed=3)
    assert np.array_equal(first.outcome_weights, second.outcome_weights)
    assert np.array_equal(first.expert_weights, second.expert_weights)
    assert np.array_equal(first.sample_states(50, 7), second.sample_states(50, 7))
    a, b = first.sample_logged(80, 1), second.sample_logged(80, 1)
    assert np.array_equal(a.states, b.states)
    assert np.array_equal(a.actions, b.actions)
    assert np.array_equal(a.outcomes, b.outcomes)


def test_different_seeds_differ() -> None:
    env = DecisionEnv(seed=3)
    assert not np.array_equal(env.sample_states(50, 7), env.sample_states(50, 8))
    assert not np.array_equal(env.outcome_weights, DecisionEnv(seed=4).outcome_weights)


def test_environment_shapes_and_ranges() -> None:
    env = DecisionEnv(EnvConfig(num_features=30, num_actions=8), seed=0)
    states = env.sample_states(200, 0)
    assert states.shape == (200, 30) and states.dtype == np.float32
    assert set(np.unique(states[:, env.binary])) <= {0.0, 1.0}
    assert env.feature_names[-1] == "feature_29" and env.action_names[-1] == "action_7"
    probabilities = env.outcome_prob(states)
    assert probabilities.shape == (200, 8)
    assert ((probabilities > 0) & (probabilities < 1)).all()
    expert = env.expert_action(states)
    assert expert.shape == (200,) and expert.max() < 8
    # the clinician looks at `expert_salient` features per action
    assert all(len(env.salient_features(a)) == 3 for a in range(8))
    # expert decisions are good but not optimal: between random and optimal return
    random_return = probabilities.mean()
    expert_return = env.env_reward(states, expert).mean()
    assert random_return < expert_return < probabilities.max(axis=1).mean()


def test_tabular_loader(tmp_path: Path) -> None:
    path = tmp_path / "cohort.csv"
    path.write_text("age,lactate,action,outcome\n60,2.5,fluids,1\n71,4.0,observe,0\n")
    data = load_tabular(path)
    assert data.feature_names == ("age", "lactate")
    assert data.action_names == ("fluids", "observe")
    assert data.actions.tolist() == [0, 1]
    assert data.states.tolist() == [[60.0, 2.5], [71.0, 4.0]]
    assert data.outcomes.tolist() == [1.0, 0.0]
    (tmp_path / "bad.csv").write_text("age,action\n60,1\n")
    with pytest.raises(DebateInputError, match="missing column 'outcome'"):
        load_tabular(tmp_path / "bad.csv")


# ---------------------------------------------------------------- judge


def test_judges_learn_well_above_chance_on_held_out_pairs(tmp_path: Path) -> None:
    env = DecisionEnv(seed=0)
    training = JudgeTraining(epochs=6, batch_size=256)
    proxy = train_judge(expert_preferences(env, 4000, 1, 6), 0, training)
    ideal = train_judge(expert_preferences(env, 4000, 1, None), 0, training)
    proxy_accuracy = pairwise_accuracy(proxy, expert_preferences(env, 2000, 2, 6))
    ideal_accuracy = pairwise_accuracy(ideal, expert_preferences(env, 2000, 2, None))
    assert proxy_accuracy > 0.6  # chance is 0.5
    assert ideal_accuracy > 0.8
    assert ideal_accuracy > proxy_accuracy  # the full state justifies better
    save_judge(proxy, tmp_path / "proxy.pt")
    loaded = load_judge(tmp_path / "proxy.pt")
    held_out = expert_preferences(env, 100, 3, 6)
    with torch.no_grad():
        assert torch.equal(
            loaded(held_out.values, held_out.mask), proxy(held_out.values, held_out.mask)
        )


def test_preference_masks_reveal_between_one_and_l_features() -> None:
    data = expert_preferences(DecisionEnv(seed=0), 500, 1, 6)
    revealed = data.mask.sum(dim=1)
    assert int(revealed.min()) >= 1 and int(revealed.max()) <= 6
    assert bool((data.preferred != data.other).all())


# ---------------------------------------------------------------- rewards


def test_zero_sum_and_reward_modes_by_hand() -> None:
    margin = torch.tensor([2.0, -0.5, 0.0])
    assert zero_sum(margin).tolist() == [1.0, -1.0, 0.0]
    assert debate_reward(margin, "zero_sum").tolist() == [1.0, -1.0, 0.0]
    sigmoid_2 = 1 / (1 + math.exp(-2.0))
    prob_diff = debate_reward(margin, "prob_diff")
    assert prob_diff[0].item() == pytest.approx(2 * sigmoid_2 - 1)
    assert prob_diff[2].item() == pytest.approx(0.0)
    assert debate_reward(margin, "log_score")[0].item() == pytest.approx(math.log(sigmoid_2))
    with pytest.raises(ValueError):
        debate_reward(margin, "bogus")  # type: ignore[arg-type]


def test_lambda_mix_by_hand() -> None:
    env_reward = torch.tensor([1.0, 0.0, 0.5])
    debate = torch.tensor([1.0, -1.0, 0.0])
    assert mix_rewards(env_reward, debate, 0.25).tolist() == pytest.approx([1.0, -0.25, 0.375])
    assert mix_rewards(env_reward, debate, 0.0).tolist() == env_reward.tolist()
    assert mix_rewards(env_reward, debate, 1.0).tolist() == debate.tolist()
    with pytest.raises(ValueError):
        mix_rewards(env_reward, debate, 1.5)


# ---------------------------------------------------------------- debate and arguers


def _linear_judge(weights: list[float]) -> JudgeMLP:
    """Score(action 0) = sum of weight * revealed value; score(action 1) = 0."""
    k = len(weights)
    judge = JudgeMLP(k, 2)
    layer = torch.nn.Linear(2 * k, 2)
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.zero_()
        layer.weight[0, :k] = torch.tensor(weights)
    judge.net = torch.nn.Sequential(layer)
    return judge


def test_greedy_picks_the_best_feature_on_a_hand_made_judge() -> None:
    judge = _linear_judge([1.0, 1.0, 1.0, 1.0])
    values = torch.tensor([[1.0, 3.0, -2.0, 0.5]])
    nothing = torch.zeros(1, 4, dtype=torch.bool)
    zero, one = torch.tensor([0]), torch.tensor([1])
    greedy = GreedyArguer()
    assert greedy.choose(judge, values, nothing, zero, one, 2).item() == 1  # +3 for action 0
    assert greedy.choose(judge, values, nothing, one, zero, 2).item() == 2  # -2 helps action 1
    shown = torch.tensor([[False, True, False, False]])
    assert greedy.choose(judge, values, shown, zero, one, 1).item() == 0  # next best unrevealed
    # with one move left, minimax is greedy; with two it still picks a valid feature
    assert MinimaxArguer().choose(judge, values, shown, zero, one, 1).item() == 0
    assert MinimaxArguer().choose(judge, values, nothing, zero, one, 2).item() == 1


def test_debate_reveals_l_distinct_features_alternating() -> None:
    env = DecisionEnv(seed=0)
    judge = JudgeMLP(env.num_features, env.num_actions)
    values = torch.from_numpy(env.sample_states(64, 0))
    first = torch.randint(0, env.num_actions, (64,))
    second = (first + 1) % env.num_actions
    pairs: list[tuple[Arguer, Arguer]] = [
        (RandomArguer(0), RandomArguer(1)),
        (GreedyArguer(), MinimaxArguer()),
    ]
    for arguer_0, arguer_1 in pairs:
        result = run_evidence_debate(
            judge, values, first, second, arguer_0, arguer_1, num_reveals=6, seed=5
        )
        assert result.order.shape == (64, 6)
        assert all(len(set(row.tolist())) == 6 for row in result.order)
        assert result.mask.sum(dim=1).tolist() == [6] * 64
        assert bool((result.movers[:, 1:] != result.movers[:, :-1]).all())
        assert set(result.movers[:, 0].tolist()) == {0, 1}  # who starts is random
    again = run_evidence_debate(
        judge, values, first, second, GreedyArguer(), GreedyArguer(), 6, seed=5
    )
    same = run_evidence_debate(
        judge, values, first, second, GreedyArguer(), GreedyArguer(), 6, seed=5
    )
    assert torch.equal(again.order, same.order)
    full = run_evidence_debate(judge, values, first, second, RandomArguer(), RandomArguer(), 24)
    assert bool(full.mask.all())
    with pytest.raises(ValueError):
        run_evidence_debate(judge, values, first, second, RandomArguer(), RandomArguer(), 25)


def test_same_action_on_both_sides_is_a_tie_and_transcript_names_features() -> None:
    env = DecisionEnv(seed=0)
    judge = JudgeMLP(env.num_features, env.num_actions)
    values = torch.from_numpy(env.sample_states(4, 0))
    action = torch.tensor([2, 2, 2, 2])
    result = run_evidence_debate(judge, values, action, action, GreedyArguer(), GreedyArguer(), 3)
    assert result.outcome.tolist() == [0.0] * 4
    record = result.record(0, values, env.feature_names, env.action_names)
    assert record["actions"] == ["antibiotics", "antibiotics"] and record["outcome"] == 0
    arguments = result.arguments(0, values, env.feature_names)
    assert [a.feature for a in arguments] == [env.feature_names[int(f)] for f in result.order[0]]
    assert arguments[0].value == pytest.approx(float(values[0, int(result.order[0, 0])]))
    assert arguments[0].render().startswith(("A: ", "B: "))


def test_learned_arguer_plays_valid_moves_and_beats_random() -> None:
    env = DecisionEnv(seed=0)
    judge = train_judge(expert_preferences(env, 3000, 1, 6), 0, JudgeTraining(epochs=4))
    learned = train_learned_arguer(judge, env, seed=0, iterations=5, batch_size=64)
    values = torch.from_numpy(env.sample_states(300, 9))
    first = torch.randint(0, env.num_actions, (300,), generator=torch.Generator().manual_seed(0))
    second = (first + 2) % env.num_actions
    as_first = run_evidence_debate(judge, values, first, second, learned, RandomArguer(1), 6)
    as_second = run_evidence_debate(judge, values, first, second, RandomArguer(1), learned, 6)
    advantage = float((as_first.outcome - as_second.outcome).mean()) / 2
    assert advantage > 0.3


# ---------------------------------------------------------------- policy and experiment


def test_fitted_q_recovers_the_rewarded_action() -> None:
    rng = np.random.default_rng(0)
    states = rng.normal(size=(600, 5)).astype(np.float32)
    actions = rng.integers(0, 3, size=600)
    rewards = np.where(actions == 2, 1.0, 0.0) + np.where(states[:, 0] > 0, actions == 1, 0) * 2.0
    policy = fit_q(states, actions, rewards, 3, seed=0, training=QTraining(epochs=60))
    chosen = policy.act(states).numpy()
    assert (chosen[states[:, 0] > 0.3] == 1).mean() > 0.9
    assert (chosen[states[:, 0] < -0.3] == 2).mean() > 0.9


def test_t_interval_and_lambda_parsing_by_hand() -> None:
    mean, low, high = t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert high - mean == pytest.approx(4.303 / math.sqrt(3))
    assert t_interval([0.5]) == (0.5, 0.5, 0.5)
    assert parse_lambdas("0, 0.5,1") == (0.0, 0.5, 1.0)
    with pytest.raises(ValueError):
        parse_lambdas("0,1.5")
    with pytest.raises(ValueError):
        parse_lambdas("a,b")


TINY = JustifiableConfig(
    judge_pairs=2000,
    judge_eval_pairs=500,
    logged_cases=800,
    test_cases=200,
    robustness_cases=60,
    arguer_iterations=3,
    judge_epochs=3,
    q_epochs=8,
)


def test_lambda_zero_is_the_baseline_and_the_sweep_reports_every_metric() -> None:
    results = run_justifiable([0.0, 1.0], seeds=1, config=TINY)
    zero = results["seeds"][0]["lambdas"]["0"]
    assert zero["judge_preference"] == 0.5 and zero["ideal_preference"] == 0.5
    assert zero["disagreement"] == 0.0
    one = results["summary"]["per_lambda"]["1"]
    for metric in ("env_return", "judge_preference", "robustness_minimax", "robustness_learned"):
        mean, low, high = one[metric]
        assert 0.0 <= mean <= 1.0 and low <= mean <= high


def test_cli_writes_results_table_and_plot(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from debate.cli import add_feature_commands, app

    add_feature_commands()
    out = tmp_path / "run"
    args = ["train", "justifiable", "--lambda", "0,1", "--seeds", "1", "--quick", "--out", str(out)]
    args += ["--reward", "prob_diff"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for name in ("results.json", "table.txt", "report.md", "justifiable.png", "debates.jsonl"):
        assert (out / name).is_file()
    assert sorted(json.loads((out / "results.json").read_text())["summary"]["per_lambda"]) == [
        "0",
        "1",
    ]
    assert (out / "judges" / "proxy_seed0.pt").is_file()
    bad = CliRunner().invoke(app, ["train", "justifiable", "--lambda", "0,2", "--out", str(out)])
    assert bad.exit_code == 2


# ---------------------------------------------------------------- engine integration


def test_evidence_debate_protocol_runs_in_the_engine(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from debate.cli import add_feature_commands, app
    from debate.justify.bridge import write_cases

    add_feature_commands()
    cases, judge_file = write_cases(
        tmp_path / "cases", cases=2, judge_pairs=1500, arguer_iterations=2
    )
    assert judge_file.is_file() and (judge_file.parent / "arguer.pt").is_file()
    shipped = Path(__file__).resolve().parent.parent / "protocols" / "evidence-debate.yaml"
    protocol = tmp_path / "evidence-learned.yaml"
    protocol.write_text(
        shipped.read_text()
        .replace("name: evidence-debate", "name: evidence-learned")
        .replace("arguer_a: greedy, arguer_b: greedy", "arguer_a: learned, arguer_b: minimax")
    )
    out = tmp_path / "run"
    args = ["run", str(protocol), "--scenarios", str(cases), "--model", "scripted"]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "transcripts.jsonl").read_text().splitlines()]
    assert len(records) == 4  # 2 cases x both answer orders
    names = set(DecisionEnv(seed=0).feature_names)
    for record in records:
        evidence = [m for m in record["messages"] if m["kind"] == "evidence"]
        assert len(evidence) == 6
        features = [m["meta"]["feature"] for m in evidence]
        assert len(set(features)) == 6 and set(features) <= names
        assert {m["role"] for m in evidence} == {"arguer_a", "arguer_b"}
        kinds = {m["role"]: m["meta"]["arguer"] for m in evidence}
        assert kinds == {"arguer_a": "learned", "arguer_b": "minimax"}
        assert evidence[0]["text"] == f"{features[0]} = {evidence[0]['meta']['value']:.2f}"
        verdict = record["final_verdict"]
        assert verdict["valid"] and sum(verdict["probs"]) == pytest.approx(1.0)


def test_reveal_step_declaration_errors(tmp_path: Path) -> None:
    from debate.core.loading import validate_file

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\n"
        "roles:\n"
        "  arguer_a: {agent: debater, defends: 0}\n"
        "  arguer_b: {agent: debater}\n"
        "  judge: {judge: qa-judge}\n"
        "rounds:\n"
        "  - reveal: [arguer_a, arguer_b]\n"
        "    arguers: {arguer_c: greedy}\n"
        "    verdict_role: judge\n"
        "verdict: judge\n"
    )
    shipped = Path(__file__).resolve().parent.parent / "protocols" / "evidence-debate.yaml"
    assert validate_file(shipped) == []
    problems = "\n".join(validate_file(bad))
    assert "role 'arguer_b' needs 'defends: 0' or 'defends: 1'" in problems
    assert "role 'arguer_c' does not reveal" in problems
    assert "set the protocol's 'verdict' to null" in problems


def test_reward_modes_agree_with_the_shared_rewards_module() -> None:
    from debate.rewards import JudgedOrder, mix, unit_reward

    margins = torch.tensor([1.3, -0.7, 0.0])
    for mode in ("zero_sum", "prob_diff", "log_score"):
        batched = debate_reward(margins, mode)  # type: ignore[arg-type]
        for margin, value in zip(margins.tolist(), batched.tolist(), strict=True):
            p_policy = 1 / (1 + math.exp(-margin))
            order = JudgedOrder(p_policy, 1 - p_policy)
            assert value == pytest.approx(unit_reward(mode, order), abs=1e-6)
    mixed = mix_rewards(torch.tensor([0.4]), torch.tensor([-1.0]), 0.3)
    assert mixed.item() == pytest.approx(mix(0.4, -1.0, 0.3))
