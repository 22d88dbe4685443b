"""HTTP behaviours of the `openai/<model>` backend that llm-katan does not produce.

llm-katan never sends `Retry-After`, logprobs, a 400 for an unsupported
parameter, or an error body inside a 200. Each test here runs a tiny real HTTP
server on loopback that answers from a script, and drives the backend against it.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from debate.models import ChatMessage, Completion, GenerateConfig, create_model
from debate.models.openai import OpenAIModel, parse_retry_after

HELLO = [ChatMessage(role="user", content="Which answer is right?")]

# (request number from 1, parsed request body) -> (status, JSON body, extra headers)
Script = Callable[[int, dict[str, object]], tuple[int, dict[str, object], dict[str, str]]]


def completion_body(text: str, logprobs: object = None) -> dict[str, object]:
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "logprobs": logprobs,
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


@contextmanager
def scripted_server(script: Script) -> Iterator[tuple[str, list[dict[str, object]]]]:
    """Serve `script` on 127.0.0.1; yields (base URL, the request bodies seen)."""
    seen: list[dict[str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            request = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
            seen.append(request)
            status, body, headers = script(len(seen), request)
            encoded = json.dumps(body).encode()
            self.send_response(status)
            for name, value in {**headers, "content-type": "application/json"}.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def generate(
    base_url: str, config: GenerateConfig, **options: object
) -> tuple[Completion, OpenAIModel]:
    model = create_model("openai/m", base_url=base_url, **options)
    assert isinstance(model, OpenAIModel)

    async def main() -> Completion:
        try:
            return await model.generate(HELLO, config)
        finally:
            await model.aclose()

    return asyncio.run(main()), model


def test_retry_after_is_honoured_and_logprobs_are_read() -> None:
    top = [
        {"token": "A", "logprob": -0.1, "bytes": None},
        {"token": " B", "logprob": -2.5, "bytes": None},
    ]
    logprobs = {"content": [{"token": "A", "logprob": -0.1, "bytes": None, "top_logprobs": top}]}

    def script(n: int, request: dict[str, object]) -> tuple[int, dict[str, object], dict[str, str]]:
        if n == 1:
            return 429, {"error": {"message": "slow down"}}, {"Retry-After": "1"}
        assert request["logprobs"] is True and request["top_logprobs"] == 20
        return 200, completion_body("A", logprobs), {}

    with scripted_server(script) as (url, _):
        config = GenerateConfig(choices=("A", "B"), max_tokens=1)
        done, model = generate(url, config, backoff_base_s=0.01, backoff_max_s=0.02)
    assert model.stats.retries == 1 and model.stats.sleeps[0] >= 1.0  # as the server asked
    assert done.choice_logprobs is not None
    probs = {label: math.exp(value) for label, value in done.choice_logprobs.items()}
    assert sum(probs.values()) == pytest.approx(1.0) and probs["A"] > probs["B"]
    assert done.usage.prompt_tokens == 3


def test_rejected_optional_parameters_are_dropped_and_resent() -> None:
    """Like newer OpenAI models: no `max_tokens`, no `temperature`, no logprobs."""
    rejections = (
        ("max_tokens", "Unsupported parameter: 'max_tokens'. Use 'max_completion_tokens'."),
        ("temperature", "Unsupported value: 'temperature' must be 1 for this model."),
        ("logprobs", "This model does not support logprobs."),
    )

    def script(n: int, request: dict[str, object]) -> tuple[int, dict[str, object], dict[str, str]]:
        for field, message in rejections:
            if field in request:
                return 400, {"error": {"message": message, "type": "invalid_request"}}, {}
        return 200, completion_body("Answer: B"), {}

    with scripted_server(script) as (url, seen):
        config = GenerateConfig(choices=("A", "B"), max_tokens=5)
        done, model = generate(url, config, max_retries=0)
    assert done.text == "Answer: B" and done.choice_logprobs is None
    final = seen[-1]
    assert final["max_completion_tokens"] == 5
    assert "temperature" not in final and "top_p" not in final and "logprobs" not in final
    assert len(seen) == 4 and model.stats.retries == 0


def test_error_body_in_a_200_is_retried() -> None:
    def script(n: int, request: dict[str, object]) -> tuple[int, dict[str, object], dict[str, str]]:
        if n == 1:
            return 200, {"error": {"message": "upstream busy", "code": 502}}, {}
        return 200, completion_body("ok"), {}

    with scripted_server(script) as (url, _):
        done, model = generate(url, GenerateConfig(), backoff_base_s=0.01)
    assert done.text == "ok" and done.usage.completion_tokens == 1
    assert model.stats.retries == 1 and "upstream busy" in model.stats.reasons[0]


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("-2") == 0.0
    assert parse_retry_after("") is None and parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = 1_700_000_000.0  # 2023-11-14T22:13:20Z
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:30 GMT", now=now) == pytest.approx(10.0)
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:00 GMT", now=now) == 0.0
