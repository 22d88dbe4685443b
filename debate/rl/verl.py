"""verl's custom reward functions: one sample, one awaited sample, or a whole batch.

verl loads `custom_reward_function.path` (`pkg://debate.rewards`, or the file of
`debate/rewards.py` or of this module) and calls the function named there:

- `verl_compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs)`:
  verl's reward loop passes `reward_router_address=` and `reward_model_tokenizer=` when
  it runs a reward model, and every path passes `custom_reward_function.reward_kwargs`;
- `verl_compute_score_async(...)`, the same as a coroutine function: the reward loop
  awaits it, one call per sample and all of a batch at once; concurrent calls are
  merged into one engine run (`loop.Coalescer`);
- `verl_compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos,
  **kwargs)` for `reward_model.reward_manager=batch`: the batch's debates run
  concurrently in one engine run.

Each returns (per sample) `{"score": r, "r_debate": ..., "r_env": ..., "invalid": ...,
"alternative": ...}`; verl trains on `score` and logs the other keys as reward extra
info. `invalid` is the share of the sample's judged orders with an invalid verdict.

The ground truth is a label (`labels.parse_label`): a string (the gold answer, or the
alternative with `labels=alternative`), a list or array of gold answers, or an object
of fields. The question is `extra_info["question"]` (else `extra_info["prompt"]`), and
`extra_info["alternative"]` supplies an alternative the label lacks.

Settings come from `DEBATE_REWARD_{PROTOCOL,JUDGE,DEBATER,MODE,LAMBDA,ALTERNATIVE,
LABELS,SPEECH_TOKENS,STORE,URL}`, overridden by reward kwargs of the same names in lower
case (`lam` or `lambda`, `labels`, `reward_url`). With a URL (or `extra_info
["reward_url"]`) the rewards come from a running `debate serve-reward`; otherwise one
`DebateRewarder` per distinct settings runs in this process on a background event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from debate.errors import DebateInputError, pydantic_lines
from debate.rl.labels import LABEL_KINDS, BadRequest, parse_label, plain
from debate.rl.loop import BackgroundLoop, Coalescer
from debate.rl.reward import DebateRewarder, ItemResult, RewardItem, RewardSettings

SETTING_NAMES = ("protocol", "judge", "debater", "mode", "alternative", "speech_tokens", "store")
_BACKGROUND = BackgroundLoop("debate-verl-reward")
_SCORERS: dict[str, Coalescer] = {}


def _options(kwargs: dict[str, Any]) -> tuple[RewardSettings, str, str | None]:
    """Settings, label kind and server URL from the environment and verl's reward kwargs."""
    values: dict[str, Any] = {}
    for name in (*SETTING_NAMES, "lambda", "labels", "url"):
        value = os.environ.get(f"DEBATE_REWARD_{name.upper()}")
        if value:
            values[name] = value
    for name in (*SETTING_NAMES, "lam", "lambda", "labels", "reward_url"):
        if kwargs.get(name) is not None:
            values[name] = kwargs[name]
    if "lambda" in values:
        values.setdefault("lam", values.pop("lambda"))
    label_kind = str(values.pop("labels", "gold"))
    if label_kind not in LABEL_KINDS:
        raise DebateInputError(f"labels: '{label_kind}': expected one of {LABEL_KINDS}")
    url = values.pop("reward_url", None) or values.pop("url", None)
    try:
        return RewardSettings(**values), label_kind, url
    except ValidationError as exc:
        raise DebateInputError(*pydantic_lines("reward settings", exc)) from exc


def _question(info: dict[str, Any]) -> str:
    question = info.get("question") or info.get("prompt") or ""
    if isinstance(question, list) and question:  # chat messages: the last user turn
        users = [m for m in question if isinstance(m, dict) and m.get("role") == "user"]
        question = (users or question)[-1]
        question = question.get("content", "") if isinstance(question, dict) else question
    return str(question)


def _item(solution: str, ground_truth: Any, extra_info: Any, label_kind: str) -> RewardItem:
    info = plain(extra_info) if isinstance(extra_info, dict) else {}
    try:
        fields = parse_label(ground_truth, label_kind, "ground_truth")
    except BadRequest as exc:
        raise DebateInputError(str(exc)) from exc
    if not fields.get("question"):
        fields["question"] = _question(info)
    if fields.get("alternative") is None and isinstance(info.get("alternative"), str):
        fields["alternative"] = info["alternative"]
    return RewardItem(answer=solution.strip(), **fields)


def _as_dict(result: ItemResult) -> dict[str, Any]:
    return {
        "score": result.reward,
        "r_debate": result.r_debate,
        "r_env": result.r_env,
        "invalid": result.invalid,
        "alternative": result.alternative,
    }


def _scorer(settings: RewardSettings) -> Coalescer:
    key = settings.model_dump_json()
    if key not in _SCORERS:
        _SCORERS[key] = Coalescer(DebateRewarder(settings))
    return _SCORERS[key]


async def _score_here(settings: RewardSettings, items: list[RewardItem]) -> list[dict[str, Any]]:
    """Rewards computed on the background loop: one item through the coalescer, or a batch."""
    scorer = _scorer(settings)
    if len(items) == 1:
        missing = scorer.rewarder.lacks_alternative(items[0])
        if not missing:  # a missing alternative fails this call alone, not the merged batch
            return [_as_dict(await scorer.score_one(items[0]))]
    batch = await scorer.rewarder.score(items)
    return [_as_dict(result) for result in batch.results]


def _post(url: str, items: list[RewardItem], label_kind: str) -> list[dict[str, Any]]:
    """Rewards from a running `debate serve-reward` (standard-library HTTP)."""
    import urllib.error
    import urllib.request

    labels = [
        {
            "gold": item.gold,
            "incorrect": item.incorrect,
            "question": item.question,
            **({"alternative": item.alternative} if item.alternative is not None else {}),
            **({"story": item.story} if item.story else {}),
        }
        for item in items
    ]
    body = {"query": [i.answer for i in items], "prompts": [""] * len(items), "labels": labels}
    request = urllib.request.Request(
        url.rstrip("/") + "/get_reward",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as reply:
            answer = json.loads(reply.read())
    except urllib.error.HTTPError as error:
        reason = error.read().decode(errors="replace")[:500]
        raise DebateInputError(f"reward server {url}: HTTP {error.code}: {reason}") from error
    logs = answer["extra_logs"]
    return [
        {
            "score": answer["rewards"][i],
            "r_debate": logs["r_debate"][i],
            "r_env": logs["r_env"][i],
            "invalid": logs["invalid"][i],
            "alternative": answer.get("alternatives", [""] * len(items))[i],
        }
        for i in range(len(items))
    ]


def _prepare(
    solutions: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Any] | None,
    kwargs: dict[str, Any],
) -> tuple[RewardSettings, list[RewardItem], str | None, str]:
    settings, label_kind, url = _options(kwargs)
    infos = list(extra_infos) if extra_infos is not None else [None] * len(solutions)
    items = [
        _item(str(solution), truth, info, label_kind)
        for solution, truth, info in zip(solutions, ground_truths, infos, strict=True)
    ]
    info_url = next((i.get("reward_url") for i in infos if isinstance(i, dict)), None)
    return settings, items, str(info_url or url) if (info_url or url) else None, label_kind


def verl_compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """One sample's reward and its parts (verl's `compute_score`)."""
    settings, items, url, label_kind = _prepare(
        [solution_str], [ground_truth], [extra_info], kwargs
    )
    if url:
        return _post(url, items, label_kind)[0]
    return _BACKGROUND.run(_score_here(settings, items))[0]


async def verl_compute_score_async(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """`verl_compute_score` as a coroutine function; concurrent calls share one engine run."""
    settings, items, url, label_kind = _prepare(
        [solution_str], [ground_truth], [extra_info], kwargs
    )
    if url:
        return (await asyncio.to_thread(_post, url, items, label_kind))[0]
    return (await _BACKGROUND.wait(_score_here(settings, items)))[0]


def verl_compute_score_batch(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Any] | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """A batch's rewards (verl's batch reward manager); its debates share one engine run."""
    settings, items, url, label_kind = _prepare(solution_strs, ground_truths, extra_infos, kwargs)
    if not items:
        return []
    if url:
        return _post(url, items, label_kind)
    return _BACKGROUND.run(_score_here(settings, items))
