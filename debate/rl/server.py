"""The HTTP reward server, in OpenRLHF's remote reward schema.

`POST /get_reward` takes `{"query": [...], "prompts": [...], "labels": [...]}`, as
OpenRLHF's client sends it: `prompts` chat-templated, each query the prompt followed by
the policy's response, decoded with its special tokens kept. The debated answer is the
query with its prompt cut off, and the question is the label's `question`, else the
prompt's last user turn; both without template markup or special tokens (`markup`).
A label is read by `labels.parse_label` (the alternative or the gold answer, a list of
gold answers, or an object of fields).

The reply is `{"rewards": [...], "scores": [...], "alternatives": [...],
"extra_logs": {...}}`: `rewards` are the mixed rewards r; `scores` are the same rewards
mapped affinely onto [0, 1] by their bounds (`reward.unit_score`), which is what
OpenRLHF's dynamic filtering compares with its (0, 1) range; `extra_logs` holds numeric
per-sample lists (`r_debate`, `r_env`, `invalid`) and the batch's `win_rate` and
`invalid_rate`. `GET /health` answers `{"status": "ok", ...}`.

Requests are handled concurrently on one event loop (aiohttp); the debates of
concurrent requests share the batched model backends. A malformed request gets a 400
(or 413) with a one-line reason; a failure while scoring gets a 500 with the reason;
neither stops the server.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from debate.errors import DebateInputError
from debate.rl.labels import LABEL_KINDS, BadRequest, parse_label
from debate.rl.markup import TextCleaner
from debate.rl.reward import DebateRewarder, RewardBatch, RewardItem, RewardSettings, unit_score

MAX_ITEMS = 65536
REWARDER_KEY = web.AppKey("rewarder", DebateRewarder)
LABEL_KIND_KEY = web.AppKey("label_kind", str)
CLEANER_KEY = web.AppKey("cleaner", TextCleaner)


def parse_request(
    body: Any, label_kind: str = "alternative", cleaner: TextCleaner | None = None
) -> list[RewardItem]:
    """Reward items of an OpenRLHF `/get_reward` body, or BadRequest with the reason."""
    cleaner = cleaner or TextCleaner()
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object with 'query', 'prompts', 'labels'")
    queries = body.get("query")
    if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
        raise BadRequest("query: expected a list of strings (prompt followed by response)")
    if len(queries) > MAX_ITEMS:
        raise BadRequest(f"query: {len(queries)} items; at most {MAX_ITEMS} per request")
    prompts = body.get("prompts")
    if prompts is None:
        prompts = [""] * len(queries)
    if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
        raise BadRequest("prompts: expected a list of strings")
    labels = body.get("labels")
    if labels is None:
        labels = [None] * len(queries)
    if not isinstance(labels, list):
        raise BadRequest("labels: expected a list")
    for name, values in (("prompts", prompts), ("labels", labels)):
        if len(values) != len(queries):
            raise BadRequest(f"{name}: {len(values)} items but query has {len(queries)}")
    items = []
    for index, (query, prompt, label) in enumerate(zip(queries, prompts, labels, strict=True)):
        fields = parse_label(label, label_kind, f"labels[{index}]")
        if not fields.get("question"):
            fields["question"] = cleaner.question(prompt)
        items.append(RewardItem(answer=cleaner.response(query, prompt), **fields))
    return items


def response_body(batch: RewardBatch, settings: RewardSettings) -> dict[str, Any]:
    rewards = batch.rewards
    return {
        "rewards": rewards,
        "scores": [unit_score(r, settings.mode, settings.lam) for r in rewards],
        "alternatives": [r.alternative for r in batch.results],
        "extra_logs": {  # numbers only: OpenRLHF turns each value into a tensor
            "r_debate": [r.r_debate for r in batch.results],
            "r_env": [r.r_env for r in batch.results],
            "invalid": [r.invalid for r in batch.results],
            "win_rate": batch.win_rate,
            "invalid_rate": batch.invalid_rate,
        },
    }


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


async def get_reward(request: web.Request) -> web.Response:
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _error(400, f"body: not valid JSON ({exc})")
    try:
        items = parse_request(body, request.app[LABEL_KIND_KEY], request.app[CLEANER_KEY])
        rewarder = request.app[REWARDER_KEY]
        batch = await rewarder.score(items)
    except BadRequest as exc:
        return _error(413 if "at most" in str(exc) else 400, str(exc))
    except DebateInputError as exc:
        return _error(400, "; ".join(exc.lines))
    except Exception as exc:  # the server keeps serving; the client gets the reason
        return _error(500, f"{type(exc).__name__}: {exc}")
    return web.json_response(response_body(batch, rewarder.settings))


async def health(request: web.Request) -> web.Response:
    settings = request.app[REWARDER_KEY].settings
    return web.json_response(
        {
            "status": "ok",
            "protocol": settings.protocol,
            "mode": settings.mode,
            "lambda": settings.lam,
            "labels": request.app[LABEL_KIND_KEY],
            "tokenizer": request.app[CLEANER_KEY].tokenizer is not None,
        }
    )


def make_app(
    rewarder: DebateRewarder, label_kind: str = "alternative", cleaner: TextCleaner | None = None
) -> web.Application:
    if label_kind not in LABEL_KINDS:
        raise DebateInputError(f"--labels: '{label_kind}': expected one of {LABEL_KINDS}")
    app = web.Application(client_max_size=256 * 1024 * 1024)
    app[REWARDER_KEY] = rewarder
    app[LABEL_KIND_KEY] = label_kind
    app[CLEANER_KEY] = cleaner or TextCleaner()
    app.router.add_post("/get_reward", get_reward)
    app.router.add_get("/health", health)

    async def close_models(app: web.Application) -> None:
        await app[REWARDER_KEY].aclose()

    app.on_cleanup.append(close_models)
    return app


def _serve_one(
    settings: dict[str, Any],
    host: str,
    port: int,
    label_kind: str,
    tokenizer: str | None,
    model_options: dict[str, Any] | None,
    reuse_port: bool,
    announce: bool,
) -> None:
    rewarder = DebateRewarder(RewardSettings(**settings), model_options=model_options)
    app = make_app(rewarder, label_kind, TextCleaner.load(tokenizer))

    def said(_: str) -> None:
        if announce:
            print(f"serving rewards on http://{host}:{port}", flush=True)

    web.run_app(
        app, host=host, port=port, access_log=None, print=said, reuse_port=reuse_port or None
    )


def serve(
    settings: RewardSettings,
    host: str = "127.0.0.1",
    port: int = 5000,
    label_kind: str = "alternative",
    model_options: dict[str, Any] | None = None,
    workers: int = 1,
    tokenizer: str | None = None,
) -> None:
    """Run the server until interrupted (prints its address once it listens).

    `workers` > 1 starts that many processes sharing the port (SO_REUSEPORT; Linux
    spreads connections over them). Each process holds its own models: use it for
    CPU-bound engine work with remote (`openai/...`) or scripted models, not to copy
    a local GPU model. `tokenizer`: the policy's tokenizer folder, used to strip its
    special tokens exactly (`markup.TextCleaner`).
    """
    cleaner = TextCleaner.load(tokenizer)  # input errors first, before listening
    make_app(DebateRewarder(settings, model_options=model_options), label_kind, cleaner)
    values = settings.model_dump()
    if workers <= 1:
        _serve_one(values, host, port, label_kind, tokenizer, model_options, False, True)
        return
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    children = [
        spawn.Process(
            target=_serve_one,
            args=(values, host, port, label_kind, tokenizer, None, True, False),
            daemon=True,
        )
        for _ in range(workers - 1)
    ]
    for child in children:
        child.start()
    try:
        _serve_one(values, host, port, label_kind, tokenizer, None, True, True)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.join(timeout=10)
