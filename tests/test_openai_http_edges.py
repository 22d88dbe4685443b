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

from debate.errors import DebateInputError
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
def scripted_server(
    script: Script, owned_by: str = "someone", gets: list[str] | None = None
) -> Iterator[tuple[str, list[dict[str, object]]]]:
    """Serve `script` on 127.0.0.1; yields (base URL, the request bodies seen).
    `GET /v1/models` lists one model owned by `owned_by`; `gets` collects GET paths."""
    seen: list[dict[str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if gets is not None:
                gets.append(self.path)
            models = {
                "object": "list",
                "data": [{"id": "m", "object": "model", "owned_by": owned_by}],
            }
            encoded = json.dumps(models).encode()
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

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


def label_logprobs(*tokens: tuple[str, float, list[tuple[str, float]]]) -> dict[str, object]:
    return {
        "content": [
            {
                "token": token,
                "logprob": logprob,
                "top_logprobs": [{"token": t, "logprob": lp} for t, lp in alternatives],
            }
            for token, logprob, alternatives in tokens
        ]
    }


JUDGE = GenerateConfig(choices=("A", "B"), max_tokens=4, answer_prefix="Answer:")


@pytest.mark.parametrize("owned_by", ["vllm", "sglang"])
def test_known_servers_get_a_prefilled_turn_and_the_label_is_the_first_token(
    owned_by: str,
) -> None:
    def script(n: int, request: dict[str, object]) -> tuple[int, dict[str, object], dict[str, str]]:
        assert request["continue_final_message"] is True
        assert request["add_generation_prompt"] is False
        assert request["messages"][-1] == {"role": "assistant", "content": "Answer:"}  # type: ignore[index]
        reply = label_logprobs((" B", -0.2, [(" B", -0.2), (" A", -1.9), (" The", -4.0)]))
        return 200, completion_body(" B", reply), {}

    with scripted_server(script, owned_by=owned_by) as (url, seen):
        done, model = generate(url, JUDGE)
    assert model.server_kind == owned_by and len(seen) == 1
    assert done.prefill == "Answer:" and done.full_text == "Answer: B"
    assert done.label_position == 0 and done.choice_logprobs is not None
    assert done.label_mass == pytest.approx(math.exp(-0.2) + math.exp(-1.9))
    assert done.choice_logprobs["B"] > done.choice_logprobs["A"]


def test_other_servers_are_read_after_the_prefix_and_a_rejected_prefill_is_dropped() -> None:
    reply = label_logprobs(
        ("Answer", -0.01, [("Answer", -0.01), ("A", -8.0), ("B", -9.0)]),
        (":", -0.01, [(":", -0.01)]),
        (" A", -0.4, [(" A", -0.4), (" B", -1.2)]),
    )

    def script(n: int, request: dict[str, object]) -> tuple[int, dict[str, object], dict[str, str]]:
        if "continue_final_message" in request:
            message = "Unrecognized request argument supplied: continue_final_message"
            return 400, {"error": {"message": message}}, {}
        return 200, completion_body("Answer: A", reply), {}

    with scripted_server(script) as (url, seen):  # not known to prefill: never tried
        done, model = generate(url, JUDGE)
    assert model.server_kind == "someone" and "continue_final_message" not in seen[0]
    assert done.prefill == "" and done.label_position == 2
    assert (
        done.choice_logprobs is not None and done.choice_logprobs["A"] > done.choice_logprobs["B"]
    )
    forced = GenerateConfig(choices=("A", "B"), max_tokens=4, answer_prefix="Answer:", prefill=True)
    with scripted_server(script) as (url, seen):  # insisting on a server that refuses it
        done, model = generate(url, forced, max_retries=0)
    assert len(seen) == 2 and "continue_final_message" not in seen[1]
    assert model.supports_prefill is False and done.prefill == ""
    assert done.label_position == 2


def test_extra_body_fields_reach_the_server() -> None:
    fields = {
        "chat_template_kwargs": {"enable_thinking": False},
        "provider": {"require_parameters": True},
    }

    def script(n: int, request: dict[str, object]) -> tuple[int, dict[str, object], dict[str, str]]:
        return 200, completion_body("Answer: A"), {}

    with scripted_server(script) as (url, seen):
        generate(url, GenerateConfig(max_tokens=3), extra_body=fields)
    assert seen[0]["chat_template_kwargs"] == {"enable_thinking": False}
    assert seen[0]["provider"] == {"require_parameters": True}
    with pytest.raises(DebateInputError, match="messages"):
        create_model("openai/m", base_url="http://127.0.0.1:9/v1", extra_body={"messages": []})


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


def test_a_speech_opening_is_prefilled_on_servers_known_to_continue_a_turn() -> None:
    opening = 'The answer is "B" because'

    def script(n: int, request: dict[str, object]) -> tuple[int, dict[str, object], dict[str, str]]:
        assert request["continue_final_message"] is True
        assert request["messages"][-1] == {"role": "assistant", "content": opening}  # type: ignore[index]
        return 200, completion_body(" it is.", None), {}

    with scripted_server(script, owned_by="vllm") as (url, seen):
        done, _ = generate(url, GenerateConfig(max_tokens=8, opening=opening))
    assert done.prefill == opening and done.text == " it is." and len(seen) == 1

    def plain(n: int, request: dict[str, object]) -> tuple[int, dict[str, object], dict[str, str]]:
        return 200, completion_body("B it is.", None), {}

    with scripted_server(plain) as (url, seen):  # not known to prefill: asked without it
        done, _ = generate(url, GenerateConfig(max_tokens=8, opening=opening))
    assert done.prefill == "" and "continue_final_message" not in seen[0]


def test_concurrent_first_requests_ask_who_serves_the_url_once() -> None:
    def script(n: int, request: dict[str, object]) -> tuple[int, dict[str, object], dict[str, str]]:
        return 200, completion_body(" more.", None), {}

    gets: list[str] = []
    with scripted_server(script, owned_by="vllm", gets=gets) as (url, seen):
        model = create_model("openai/m", base_url=url)

        async def many() -> list[Completion]:
            try:
                config = GenerateConfig(max_tokens=4, opening="Once")
                return list(
                    await asyncio.gather(*(model.generate(HELLO, config) for _ in range(8)))
                )
            finally:
                await model.aclose()

        done = asyncio.run(many())
    assert gets == ["/v1/models"] and len(seen) == 8
    assert all(completion.prefill == "Once" for completion in done)
