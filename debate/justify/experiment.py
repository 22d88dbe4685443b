"""The lambda sweep: train justifiable policies and measure them.

Per seed: train the proxy judge (random 1..L features revealed) and the ideal judge
(full state) on expert preferences; train the learned arguer by self-play; log data
under a uniform behaviour policy; fit the baseline (lambda = 0); score every logged
action by the greedy-vs-greedy evidence debate against the baseline's action; fit one
policy per lambda on r = (1 - lambda) r_env + lambda r_debate; evaluate on fresh cases:
environment return, the proxy and ideal judges' preference for the policy over the
baseline, and each arguer's robustness against the confuser. Means over seeds come
with 95% t-intervals. `train_justifiable` is the body of `debate train justifiable`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from debate.justify.arguers import (
    ConfuserArguer,
    GreedyArguer,
    MinimaxArguer,
    RandomArguer,
    train_learned_arguer,
)
from debate.justify.env import DecisionEnv
from debate.justify.game import (
    Arguer,
    RewardMode,
    debate_reward,
    mix_rewards,
    run_evidence_debate,
)
from debate.justify.judge import (
    JudgeMLP,
    JudgeTraining,
    expert_preferences,
    pairwise_accuracy,
    save_judge,
    train_judge,
)
from debate.justify.policy import QPolicy, QTraining, fit_q
from debate.justify.report import summarize

DEFAULT_LAMBDAS = (0.0, 0.25, 0.5, 0.75, 1.0)
ARGUER_NAMES = ("random", "greedy", "minimax", "learned")
METRICS = (
    "env_return",
    "judge_preference",
    "ideal_preference",
    "disagreement",
    "expert_agreement",
    *(f"robustness_{name}" for name in ARGUER_NAMES),
    "ideal_reward_env_return",
    "ideal_reward_ideal_preference",
)


@dataclass(frozen=True)
class JustifiableConfig:
    """Sizes of one run; the defaults run 5 lambdas x 5 seeds on CPU in a few minutes."""

    lambdas: tuple[float, ...] = DEFAULT_LAMBDAS
    seeds: int = 5
    env_seed: int = 0
    num_reveals: int = 6
    judge_pairs: int = 20000
    judge_eval_pairs: int = 4000
    logged_cases: int = 5000
    test_cases: int = 1000
    robustness_cases: int = 300
    arguer_iterations: int = 100
    judge_epochs: int = 12
    q_epochs: int = 40
    torch_threads: int = 1
    reward_mode: RewardMode = "zero_sum"


def _win_rate(outcome: torch.Tensor) -> float:
    """Side 0's win rate, ties counting half; nan for an empty batch."""
    if outcome.numel() == 0:
        return math.nan
    return float(((outcome + 1) / 2).mean())


def _debate_outcome(
    judge: JudgeMLP,
    states: torch.Tensor,
    mine: torch.Tensor,
    theirs: torch.Tensor,
    arguer: Arguer,
    opponent: Arguer,
    num_reveals: int,
    seed: int,
) -> torch.Tensor:
    result = run_evidence_debate(
        judge, states, mine, theirs, arguer, opponent, num_reveals, seed=seed
    )
    return result.outcome


@torch.no_grad()
def _ideal_outcome(
    ideal: JudgeMLP, states: torch.Tensor, mine: torch.Tensor, theirs: torch.Tensor
) -> torch.Tensor:
    """The full-state judge's zero-sum verdict (no debate needed: it sees everything)."""
    margin = ideal.margin(states, torch.ones_like(states, dtype=torch.bool), mine, theirs)
    return torch.where(mine == theirs, 0.0, torch.sign(margin))


def _evaluate(
    env: DecisionEnv,
    config: JustifiableConfig,
    policy: QPolicy,
    baseline_actions: torch.Tensor,
    states: torch.Tensor,
    judges: tuple[JudgeMLP, JudgeMLP],
    arguers: dict[str, Arguer],
    seed: int,
) -> dict[str, float]:
    proxy, ideal = judges
    actions = policy.act(states)
    greedy = arguers["greedy"]
    preference = _debate_outcome(
        proxy, states, actions, baseline_actions, greedy, greedy, config.num_reveals, seed
    )
    ideal_outcome = _ideal_outcome(ideal, states, actions, baseline_actions)
    metrics = {
        "env_return": float(env.env_reward(states.numpy(), actions.numpy()).mean()),
        "judge_preference": _win_rate(preference),
        "ideal_preference": _win_rate(ideal_outcome),
        "disagreement": float((actions != baseline_actions).float().mean()),
        "expert_agreement": float((actions.numpy() == env.expert_action(states.numpy())).mean()),
    }
    subset = states[: config.robustness_cases]
    mine = actions[: config.robustness_cases]
    generator = torch.Generator().manual_seed(seed + 17)
    shift = torch.randint(1, env.num_actions, (subset.shape[0],), generator=generator)
    alternative = (mine + shift) % env.num_actions
    with torch.no_grad():
        justified = (
            ideal.margin(subset, torch.ones_like(subset, dtype=torch.bool), mine, alternative) > 0
        )
    confuser = arguers["confuser"]
    for name in ARGUER_NAMES:
        outcome = _debate_outcome(
            proxy,
            subset[justified],
            mine[justified],
            alternative[justified],
            arguers[name],
            confuser,
            config.num_reveals,
            seed,
        )
        metrics[f"robustness_{name}"] = _win_rate(outcome)
    return metrics


def run_seed(
    config: JustifiableConfig,
    seed: int,
    judge_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Everything for one seed: judge accuracies, references, per-lambda metrics."""
    say = progress or (lambda _message: None)
    env = DecisionEnv(seed=config.env_seed)
    base = 1000 * (seed + 1)
    training = JudgeTraining(epochs=config.judge_epochs, batch_size=512)
    L = config.num_reveals
    proxy = train_judge(expert_preferences(env, config.judge_pairs, base + 1, L), seed, training)
    ideal = train_judge(expert_preferences(env, config.judge_pairs, base + 1, None), seed, training)
    accuracy = {
        "proxy_heldout": pairwise_accuracy(
            proxy, expert_preferences(env, config.judge_eval_pairs, base + 2, L)
        ),
        "ideal_heldout": pairwise_accuracy(
            ideal, expert_preferences(env, config.judge_eval_pairs, base + 2, None)
        ),
    }
    if judge_dir is not None:
        judge_dir.mkdir(parents=True, exist_ok=True)
        save_judge(proxy, judge_dir / f"proxy_seed{seed}.pt")
        save_judge(ideal, judge_dir / f"ideal_seed{seed}.pt")
    say(
        f"seed {seed}: judges trained, held-out pairwise accuracy "
        f"proxy {accuracy['proxy_heldout']:.3f}, ideal {accuracy['ideal_heldout']:.3f}"
    )
    arguers: dict[str, Arguer] = {
        "random": RandomArguer(seed),
        "greedy": GreedyArguer(),
        "minimax": MinimaxArguer(depth=2),
        "learned": train_learned_arguer(proxy, env, seed, L, iterations=config.arguer_iterations),
        "confuser": ConfuserArguer(),
    }
    logged = env.sample_logged(config.logged_cases, base + 3)
    q_training = QTraining(epochs=config.q_epochs)
    baseline = fit_q(
        logged.states, logged.actions, logged.outcomes, env.num_actions, seed, q_training
    )
    logged_states = torch.from_numpy(logged.states)
    logged_actions = torch.from_numpy(logged.actions)
    baseline_logged = baseline.act(logged_states)
    greedy = arguers["greedy"]
    training_debates = run_evidence_debate(
        proxy, logged_states, logged_actions, baseline_logged, greedy, greedy, L, seed=base + 4
    )
    r_debate = debate_reward(training_debates.margin, config.reward_mode)
    r_ideal = _ideal_outcome(ideal, logged_states, logged_actions, baseline_logged)
    outcomes = torch.from_numpy(logged.outcomes)
    test_states = torch.from_numpy(env.sample_states(config.test_cases, base + 5))
    baseline_test = baseline.act(test_states)
    test_np = test_states.numpy()
    probabilities = env.outcome_prob(test_np)
    references = {
        "optimal_return": float(probabilities.max(axis=1).mean()),
        "expert_return": float(env.env_reward(test_np, env.expert_action(test_np)).mean()),
        "random_return": float(probabilities.mean()),
    }
    per_lambda: dict[str, dict[str, float]] = {}

    def fit(reward: torch.Tensor, lam: float) -> QPolicy:
        if lam == 0.0:
            return baseline
        mixed = mix_rewards(outcomes, reward, lam).numpy()
        return fit_q(logged.states, logged.actions, mixed, env.num_actions, seed, q_training)

    for lam in config.lambdas:
        policy = fit(r_debate, lam)
        metrics = _evaluate(
            env, config, policy, baseline_test, test_states, (proxy, ideal), arguers, base + 6
        )
        # reference: the same learner rewarded by the ideal (full-state) judge instead
        ideal_actions = fit(r_ideal, lam).act(test_states)
        metrics["ideal_reward_env_return"] = float(
            env.env_reward(test_np, ideal_actions.numpy()).mean()
        )
        metrics["ideal_reward_ideal_preference"] = _win_rate(
            _ideal_outcome(ideal, test_states, ideal_actions, baseline_test)
        )
        per_lambda[f"{lam:g}"] = metrics
        say(
            f"seed {seed}: lambda {lam:g} "
            + ", ".join(
                f"{k} {v:.3f}"
                for k, v in per_lambda[f"{lam:g}"].items()
                if k in ("env_return", "judge_preference", "ideal_preference")
            )
        )
    examples = _example_debates(
        env, proxy, policy, baseline_test, test_states, arguers["greedy"], L
    )
    return {
        "seed": seed,
        "judge_accuracy": accuracy,
        "references": references,
        "lambdas": per_lambda,
        "examples": examples,
    }


def _example_debates(
    env: DecisionEnv,
    judge: JudgeMLP,
    policy: QPolicy,
    baseline_actions: torch.Tensor,
    states: torch.Tensor,
    arguer: Arguer,
    num_reveals: int,
    count: int = 3,
) -> list[dict[str, object]]:
    """Transcripts of a few debates of the last policy against the baseline."""
    actions = policy.act(states)
    rows = torch.nonzero(actions != baseline_actions).squeeze(1)[:count]
    if rows.numel() == 0:
        return []
    picked = states[rows]
    result = run_evidence_debate(
        judge, picked, actions[rows], baseline_actions[rows], arguer, arguer, num_reveals, seed=1
    )
    return [result.record(i, picked, env.feature_names, env.action_names) for i in range(len(rows))]


def run_justifiable(
    lambdas: Sequence[float] = DEFAULT_LAMBDAS,
    seeds: int = 5,
    config: JustifiableConfig | None = None,
    judge_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The full sweep: per-seed results, their summary and the configuration used."""
    config = replace(config or JustifiableConfig(), lambdas=tuple(lambdas), seeds=seeds)
    if seeds < 1:
        raise ValueError("seeds must be at least 1")
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.torch_threads)
    try:
        runs = [run_seed(config, seed, judge_dir, progress) for seed in range(seeds)]
    finally:
        torch.set_num_threads(previous_threads)
    return {"config": asdict(config), "seeds": runs, "summary": summarize(runs)}


QUICK = JustifiableConfig(
    judge_pairs=4000,
    judge_eval_pairs=1000,
    logged_cases=1500,
    test_cases=300,
    robustness_cases=100,
    arguer_iterations=10,
    judge_epochs=5,
    q_epochs=15,
)


def parse_lambdas(text: str) -> tuple[float, ...]:
    """`"0,0.5,1"` -> (0.0, 0.5, 1.0); each must lie in [0, 1]."""
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise ValueError(f"--lambda: expected comma-separated numbers, got {text!r}") from error
    if not values or any(not 0.0 <= v <= 1.0 for v in values):
        raise ValueError(f"--lambda: every value must lie in [0, 1], got {text!r}")
    return values


def train_justifiable(
    lambdas: Sequence[float] | str = DEFAULT_LAMBDAS,
    seeds: int = 5,
    out: str | Path = "runs/justifiable",
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
    reward_mode: RewardMode = "zero_sum",
) -> dict[str, Any]:
    """Body of `debate train justifiable`: run the sweep and write into `out`
    results.json, table.txt, report.md, justifiable.png, judges/*.pt, debates.jsonl.
    `reward_mode` turns the training debates' judge margin into r_debate."""
    from debate.justify.report import markdown, plot, table_text

    if isinstance(lambdas, str):
        lambdas = parse_lambdas(lambdas)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = replace(QUICK if quick else JustifiableConfig(), reward_mode=reward_mode)
    results = run_justifiable(lambdas, seeds, config, judge_dir=out / "judges", progress=progress)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "table.txt").write_text(table_text(results["summary"]))
    (out / "report.md").write_text(markdown(results["summary"]))
    plot(results["summary"], out / "justifiable.png")
    with (out / "debates.jsonl").open("w") as handle:
        for run in results["seeds"]:
            for example in run["examples"]:
                handle.write(json.dumps({"seed": run["seed"], **example}) + "\n")
    return results
