"""The evidence debate inside the engine: the `reveal` step's body and its case files.

`debate/justify/steps.py` holds the `reveal` step type; its `run` calls
`play_reveal` here, which (with torch imported only then):
- reads the case from the scenario: `fields.features` (feature name -> value, in the
  judge's input order), `fields.action_names` (the judge's action order) and the two
  `answers` (action names) the roles defend;
- alternates the two roles, each revealing one unrevealed feature per move, as a
  message `"<feature> = <value>"` of kind `evidence` (meta: feature, value, arguer);
  a role plays greedy, minimax, random or learned (the self-play policy the case's
  `arguer_file` names) from Python, or asks its bound model
  (`model`), which must name an unrevealed feature (fallback: a random one, marked
  invalid in the message meta);
- records the proxy judge's final verdict, p(answer 0) = sigmoid(margin).

`write_cases` writes such cases (expert action vs another action, gold = the expert's)
as JSONL the generic scenario loader reads, plus the proxy judge they need.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from debate.justify.env import DecisionEnv

if TYPE_CHECKING:
    from debate.core.context import UnitContext
    from debate.justify.arguers import LearnedArguer
    from debate.justify.judge import JudgeMLP

PYTHON_ARGUERS = ("greedy", "minimax", "random", "learned")


@lru_cache(maxsize=8)
def _judge(path: str) -> JudgeMLP:
    from debate.justify.judge import load_judge

    return load_judge(path)


@lru_cache(maxsize=8)
def _learned(path: str) -> LearnedArguer:
    from debate.justify.arguers import load_learned_arguer

    return load_learned_arguer(path)


def _case(
    ctx: UnitContext, judge_file: str | None
) -> tuple[list[str], list[float], list[int], str]:
    fields = ctx.scenario.fields
    features = fields.get("features")
    action_names = fields.get("action_names")
    where = f"scenario '{ctx.scenario.id}'"
    if not isinstance(features, dict) or not features:
        raise ValueError(f"{where}: the evidence debate needs a 'features' mapping")
    if not isinstance(action_names, list):
        raise ValueError(f"{where}: the evidence debate needs an 'action_names' list")
    unknown = [a for a in ctx.scenario.answers if a not in action_names]
    if len(ctx.scenario.answers) != 2 or unknown:
        raise ValueError(f"{where}: needs two answers among action_names (unknown: {unknown})")
    path = judge_file or fields.get("judge_file")
    if not isinstance(path, str):
        raise ValueError(f"{where}: no judge file (step 'judge_file' or field 'judge_file')")
    answer_ids = [action_names.index(a) for a in ctx.scenario.answers]
    return list(features), [float(v) for v in features.values()], answer_ids, path


def _model_choice(
    text: str, logprobs: dict[str, float] | None, candidates: list[str]
) -> str | None:
    if logprobs:
        scored = [name for name in candidates if name in logprobs]
        if scored:
            return max(scored, key=lambda name: logprobs[name])
    lowered = text.lower()
    found = [(lowered.find(name.lower()), name) for name in candidates if name.lower() in lowered]
    return min(found)[1] if found else None


async def _ask_model(
    ctx: UnitContext, role: str, names: list[str], values: list[float], revealed: set[int]
) -> tuple[int, bool]:
    from debate.models.base import GenerateConfig

    defended = ctx.scenario.answers[ctx.defends[role] or 0]
    candidates = [n for i, n in enumerate(names) if i not in revealed]
    case = ", ".join(f"{n} = {v:.2f}" for n, v in zip(names, values, strict=True))
    instruction = (
        f"You argue that the right action is '{defended}'. The case: {case}. "
        "Reveal the one feature that best supports your action. "
        f"Reply with its name only, one of: {', '.join(candidates)}."
    )
    config = GenerateConfig(
        max_tokens=16, seed=ctx.next_seed(), choices=tuple(candidates), epoch=ctx.epoch
    )
    completion = await ctx.complete(role, ctx.view(role, instruction), config, kind="evidence")
    chosen = _model_choice(completion.text, completion.choice_logprobs, candidates)
    if chosen is None:
        return names.index(ctx.rng.choice(candidates)), False
    return names.index(chosen), True


async def play_reveal(
    ctx: UnitContext,
    roles: list[str],
    count: int,
    arguers: dict[str, str],
    first: str,
    judge_file: str | None,
    verdict_role: str | None,
) -> None:
    """Run one evidence debate between `roles` in the unit `ctx` (see the module doc)."""
    import torch

    from debate.core.events import VerdictGiven
    from debate.core.record import Verdict
    from debate.justify.arguers import GreedyArguer, MinimaxArguer, RandomArguer
    from debate.justify.game import Arguer

    names, values, answer_ids, path = _case(ctx, judge_file)
    judge = _judge(str(Path(path).expanduser()))
    if judge.num_features != len(names):
        raise ValueError(
            f"judge {path} takes {judge.num_features} features, the case has {len(names)}"
        )
    if count > len(names):
        raise ValueError(f"reveal count {count} exceeds the case's {len(names)} features")
    python: dict[str, Arguer] = {
        "greedy": GreedyArguer(),
        "minimax": MinimaxArguer(),
        "random": RandomArguer(ctx.seed),
    }
    if "learned" in arguers.values():
        learned_file = ctx.scenario.fields.get("arguer_file")
        if not isinstance(learned_file, str):
            raise ValueError(f"scenario '{ctx.scenario.id}': a learned arguer needs 'arguer_file'")
        python["learned"] = _learned(str(Path(learned_file).expanduser()))
    state = torch.tensor([values], dtype=torch.float32)
    mask = torch.zeros(1, len(names), dtype=torch.bool)
    start = ctx.rng.randrange(2) if first == "random" else (0 if first == "first" else 1)
    for turn in range(count):
        role = roles[(start + turn) % 2]
        kind = arguers.get(role, "greedy")
        side = ctx.defends[role] or 0
        ctx.round += 1
        valid = True
        if kind == "model":
            revealed = set(torch.nonzero(mask[0]).flatten().tolist())
            chosen, valid = await _ask_model(ctx, role, names, values, revealed)
        else:
            own = torch.tensor([answer_ids[side]])
            other = torch.tensor([answer_ids[1 - side]])
            chosen = int(python[kind].choose(judge, state, mask, own, other, count - turn)[0])
        mask[0, chosen] = True
        meta: dict[str, Any] = {"feature": names[chosen], "value": values[chosen], "arguer": kind}
        if not valid:
            meta["invalid"] = True
        text = f"{names[chosen]} = {values[chosen]:.2f}"
        ctx.add_message(role, text, kind="evidence", meta=meta, check_quotes_in_text=False)
    if verdict_role is None:
        return
    with torch.no_grad():
        margin = float(
            judge.margin(state, mask, torch.tensor(answer_ids[:1]), torch.tensor(answer_ids[1:]))[0]
        )
    first_probability = 1.0 / (1.0 + math.exp(-margin))
    verdict = Verdict(
        role=verdict_role,
        round=ctx.round,
        probs=[first_probability, 1.0 - first_probability],
        chosen=None if margin == 0 else (0 if margin > 0 else 1),
        valid=True,
        method="logprobs",
        raw=f"judge margin {margin:.4f} on {int(mask.sum())} revealed features",
    )
    ctx.add_verdict(verdict)
    ctx.emit(
        VerdictGiven(
            ctx.unit_id,
            ctx.round,
            verdict_role,
            tuple(verdict.probs or ()),
            True,
            True,
            ctx.scenario.correct_index,
        )
    )


def write_cases(
    out: str | Path,
    cases: int = 50,
    seed: int = 0,
    env_seed: int = 0,
    judge_pairs: int = 20000,
    arguer_iterations: int = 0,
) -> tuple[Path, Path]:
    """Write `cases.jsonl` (expert action vs a random other; gold = expert) and the proxy
    judge `proxy.pt` they reference into `out`; with `arguer_iterations` > 0 also train a
    learned arguer (`arguer.pt`) for `arguers: {role: learned}`. Returns the cases and
    judge paths."""
    from debate.justify.arguers import save_learned_arguer, train_learned_arguer
    from debate.justify.judge import JudgeTraining, expert_preferences, save_judge, train_judge

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    env = DecisionEnv(seed=env_seed)
    judge_path = (out / "proxy.pt").resolve()
    judge = train_judge(
        expert_preferences(env, judge_pairs, seed + 1, 6),
        seed,
        JudgeTraining(epochs=12, batch_size=512),
    )
    save_judge(judge, judge_path)
    extra: dict[str, str] = {}
    if arguer_iterations > 0:
        arguer_path = (out / "arguer.pt").resolve()
        learned = train_learned_arguer(judge, env, seed, iterations=arguer_iterations)
        save_learned_arguer(learned, arguer_path)
        extra["arguer_file"] = str(arguer_path)
    states = env.sample_states(cases, seed + 2)
    expert = env.expert_action(states)
    rng = np.random.default_rng(seed + 3)
    other = (expert + rng.integers(1, env.num_actions, size=cases)) % env.num_actions
    cases_path = out / "cases.jsonl"
    with cases_path.open("w") as handle:
        for i in range(cases):
            row = {
                "id": f"case-{seed}-{i}",
                "question": "Which action do the case's features justify?",
                "answers": [env.action_names[expert[i]], env.action_names[other[i]]],
                "correct_index": 0,
                "features": {
                    n: round(float(v), 4) for n, v in zip(env.feature_names, states[i], strict=True)
                },
                "action_names": list(env.action_names),
                "judge_file": str(judge_path),
                **extra,
            }
            handle.write(json.dumps(row) + "\n")
    return cases_path, judge_path
