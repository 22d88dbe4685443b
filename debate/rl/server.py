"""The HTTP reward server (OpenRLHF's remote reward schema) and the verl adapter.

`POST /get_reward` takes `{"query": [...], "prompts": [...], "labels": [...]}`: each
query is a prompt followed by the policy's response, so the response is the query with
its prompt cut off. A label is either a plain string (read as the gold answer or as the
alternative, per `label_kind`) or an object with any of `gold` (string or list),
`alternative`, `incorrect`, `question`, `story`. The reply is `{"rewards": [...],
"scores": [...], "extra_logs": {...}}`; `extra_logs` holds per-sample lists
(`r_debate`, `r_env`, `invalid`) and the batch's `win_rate` and `invalid_rate`.
`GET /health` answers `{"status": "ok", ...}`.

Requests are handled concurrently on one event loop (aiohttp); the debates of
concurrent requests share the batched model backends. A malformed request gets a 400
(or 413) with a one-line reason; a failure while scoring gets a 500 with the reason;
neither stops the server.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from aiohttp import web

from debate.errors import DebateInputError
from debate.rl.reward import DebateRewarder, RewardItem, RewardSettings

MAX_ITEMS = 65536
LABEL_KINDS = ("alternative", "gold")
REWARDER_KEY = web.AppKey("rewarder", DebateRewarder)
LABEL_KIND_KEY = web.AppKey("label_kind", str)


class BadRequest(ValueError):
    """A request the server refuses, with the reason sent back."""


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise BadRequest(f"{where}: expected a string or a list of strings")


def parse_label(label: Any, label_kind: str, where: str) -> dict[str, Any]:
    """A label as RewardItem fields (gold, alternative, incorrect, question, story)."""
    if label is None:
        return {}
    if isinstance(label, str):
        if label.lstrip().startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                label = json.loads(label)
        if isinstance(label, str):
            return {"gold": [label]} if label_kind == "gold" else {"alternative": label}
    if not isinstance(label, dict):
        raise BadRequest(f"{where}: expected a string or an object")
    unknown = sorted(set(label) - {"gold", "alternative", "incorrect", "question", "story"})
    if unknown:
        raise BadRequest(f"{where}: unknown key '{unknown[0]}'")
    fields: dict[str, Any] = {
        "gold": _strings(label.get("gold"), f"{where}.gold"),
        "incorrect": _strings(label.get("incorrect"), f"{where}.incorrect"),
    }
    for key in ("alternative", "question", "story"):
        value = label.get(key)
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"{where}.{key}: expected a string")
        if value is not None:
            fields[key] = value
    return fields


def parse_request(body: Any, label_kind: str = "alternative") -> list[RewardItem]:
    """Reward items of an OpenRLHF `/get_reward` body, or BadRequest with the reason."""
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
        response = query[len(prompt) :] if prompt and query.startswith(prompt) else query
        fields.setdefault("question", prompt.strip())
        items.append(RewardItem(answer=response.strip(), **fields))
    return items


def response_body(batch: Any) -> dict[str, Any]:
    rewards = batch.rewards
    return {
        "rewards": rewards,
        "scores": rewards,
        "extra_logs": {
            "r_debate": [r.r_debate for r in batch.results],
            "r_env": [r.r_env for r in batch.results],
            "invalid": [
                sum(not o.valid for o in r.orders) / max(1, len(r.orders)) for r in batch.results
            ],
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
        items = parse_request(body, request.app[LABEL_KIND_KEY])
        batch = await request.app[REWARDER_KEY].score(items)
    except BadRequest as exc:
        return _error(413 if "at most" in str(exc) else 400, str(exc))
    except DebateInputError as exc:
        return _error(400, "; ".join(exc.lines))
    except Exception as exc:  # the server keeps serving; the client gets the reason
        return _error(500, f"{type(exc).__name__}: {exc}")
    return web.json_response(response_body(batch))


async def health(request: web.Request) -> web.Response:
    settings = request.app[REWARDER_KEY].settings
    return web.json_response(
        {
            "status": "ok",
            "protocol": settings.protocol,
            "mode": settings.mode,
            "lambda": settings.lam,
            "labels": request.app[LABEL_KIND_KEY],
        }
    )


def make_app(rewarder: DebateRewarder, label_kind: str = "alternative") -> web.Application:
    if label_kind not in LABEL_KINDS:
        raise DebateInputError(f"--labels: '{label_kind}': expected one of {LABEL_KINDS}")
    app = web.Application(client_max_size=256 * 1024 * 1024)
    app[REWARDER_KEY] = rewarder
    app[LABEL_KIND_KEY] = label_kind
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
    model_options: dict[str, Any] | None,
    reuse_port: bool,
    announce: bool,
) -> None:
    rewarder = DebateRewarder(RewardSettings(**settings), model_options=model_options)
    app = make_app(rewarder, label_kind)

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
) -> None:
    """Run the server until interrupted (prints its address once it listens).

    `workers` > 1 starts that many processes sharing the port (SO_REUSEPORT; Linux
    spreads connections over them). Each process holds its own models: use it for
    CPU-bound engine work with remote (`openai/...`) or scripted models, not to copy
    a local GPU model.
    """
    make_app(DebateRewarder(settings, model_options=model_options), label_kind)  # fail early
    values = settings.model_dump()
    if workers <= 1:
        _serve_one(values, host, port, label_kind, model_options, False, True)
        return
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    children = [
        spawn.Process(
            target=_serve_one,
            args=(values, host, port, label_kind, None, True, False),
            daemon=True,
        )
        for _ in range(workers - 1)
    ]
    for child in children:
        child.start()
    try:
        _serve_one(values, host, port, label_kind, None, True, True)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.join(timeout=10)
