"""The `openai/<model>` backend against a real llm-katan server on loopback.

llm-katan's echo backend answers with the request's settings and the last user
message, never sends logprobs, and injects faults on demand. What it cannot
produce (`Retry-After`, logprobs, 400s for unsupported parameters) is covered in
`test_openai_http_edges.py`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from katan import KatanFactory, free_port, katan_fixture  # noqa: F401

from debate.errors import DebateInputError
from debate.models import ChatMessage, GenerateConfig, ModelError, create_model
from debate.models.cache import CachedModel
from debate.models.openai import OpenAIModel

pytestmark = pytest.mark.server

HELLO = [
    ChatMessage(role="system", content="You are terse."),
    ChatMessage(role="user", content="Which answer is right?"),
]


def model(server_url: str, **options: object) -> OpenAIModel:
    built = create_model("openai/katan-echo", base_url=server_url, **options)
    assert isinstance(built, OpenAIModel)
    return built


def run_closing(m: OpenAIModel | CachedModel, coro_factory):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        try:
            return await coro_factory()
        finally:
            await m.aclose()

    return asyncio.run(main())


# --------------------------------------------------------------------------- basics


def test_generate_text_settings_and_usage(katan: KatanFactory) -> None:
    server = katan()
    m = model(server.base_url)
    config = GenerateConfig(max_tokens=37, temperature=0.5, top_p=0.9, seed=7, stop=("\n\n",))
    done = run_closing(m, lambda: m.generate(HELLO, config))
    assert done.model == "openai/katan-echo"
    assert "User: Which answer is right?" in done.text
    assert "max_tokens=37" in done.text and "temperature=0.5" in done.text
    assert done.usage.prompt_tokens > 0 and done.usage.completion_tokens > 0
    assert done.cached is False and done.choice_logprobs is None


def test_streaming_deltas_concatenate_to_text(katan: KatanFactory) -> None:
    server = katan()
    m = model(server.base_url)
    pieces: list[str] = []
    done = run_closing(m, lambda: m.generate(HELLO, GenerateConfig(), on_delta=pieces.append))
    assert len(pieces) > 1
    assert "".join(pieces) == done.text
    assert "User: Which answer is right?" in done.text
    assert done.usage.completion_tokens > 0  # from the stream's final usage chunk


def test_choice_logprobs_fall_back_to_none_without_server_logprobs(katan: KatanFactory) -> None:
    server = katan()
    m = model(server.base_url)
    config = GenerateConfig(choices=("A", "B"), max_tokens=1)
    done = run_closing(m, lambda: m.generate(HELLO, config))
    assert done.choice_logprobs is None  # the judge parses the text instead
    assert done.text


def test_options_from_environment(katan: KatanFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    server = katan()
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    m = create_model("openai/katan-echo")
    assert isinstance(m, OpenAIModel) and m.base_url == server.base_url
    done = run_closing(m, lambda: m.generate(HELLO, GenerateConfig()))
    assert "User:" in done.text


def test_bad_configuration_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(DebateInputError, match="OPENAI_API_KEY"):
        create_model("openai/gpt-4o-mini")
    with pytest.raises(DebateInputError, match="unknown option"):
        create_model("openai/x", base_url="http://127.0.0.1:1/v1", retries=3)
    with pytest.raises(DebateInputError, match="max-connections"):
        create_model("openai/x", base_url="http://127.0.0.1:1/v1", max_connections=0)


def test_retry_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBATE_OPENAI_MAX_RETRIES", "3")
    monkeypatch.setenv("DEBATE_OPENAI_RETRY_BUDGET_S", "2.5")
    monkeypatch.setenv("DEBATE_OPENAI_TIMEOUT_S", "9")
    m = create_model("openai/x", base_url="http://127.0.0.1:1/v1")
    assert isinstance(m, OpenAIModel)
    assert (m.max_retries, m.retry_budget_s, m.timeout_s) == (3, 2.5, 9.0)
    explicit = create_model("openai/x", base_url="http://127.0.0.1:1/v1", max_retries=1)
    assert isinstance(explicit, OpenAIModel) and explicit.max_retries == 1
    monkeypatch.setenv("DEBATE_OPENAI_MAX_RETRIES", "many")
    with pytest.raises(DebateInputError, match="DEBATE_OPENAI_MAX_RETRIES"):
        create_model("openai/x", base_url="http://127.0.0.1:1/v1")


# --------------------------------------------------------------------------- faults


def test_retries_under_error_rate_complete_every_request(katan: KatanFactory) -> None:
    server = katan(error_rate=0.3)
    m = model(server.base_url, max_retries=25, backoff_base_s=0.02, backoff_max_s=0.5)

    async def hundred():  # type: ignore[no-untyped-def]
        requests = [[ChatMessage(role="user", content=f"question {i}")] for i in range(100)]
        return await asyncio.gather(*(m.generate(r, GenerateConfig()) for r in requests))

    results = run_closing(m, hundred)
    assert [r.text.rsplit("User: ", 1)[1] for r in results] == [f"question {i}" for i in range(100)]
    assert m.stats.retries > 0
    assert all("HTTP 500" in reason for reason in m.stats.reasons)


def test_rate_limit_429_is_retried_then_reported(katan: KatanFactory) -> None:
    server = katan(rate_limit_after=2)  # every request after the 2nd gets 429
    m = model(server.base_url, retry_budget_s=1.5, backoff_base_s=0.05, backoff_max_s=0.2)

    async def three():  # type: ignore[no-untyped-def]
        await m.generate(HELLO, GenerateConfig())
        await m.generate(HELLO, GenerateConfig())
        await m.generate(HELLO, GenerateConfig())

    with pytest.raises(ModelError, match="HTTP 429") as caught:
        run_closing(m, three)
    assert "gave up after" in str(caught.value)
    assert m.stats.retries >= 1 and m.stats.failures == 1


def test_max_connections_keeps_below_server_max_inflight(katan: KatanFactory) -> None:
    server = katan(max_inflight=3, latency_ms=30, max_concurrent=16)
    # Two roles bound to the same server and model share one limit of 3.
    a = model(server.base_url, max_connections=3, max_retries=0)
    b = model(server.base_url, max_connections=3, max_retries=0)

    async def both():  # type: ignore[no-untyped-def]
        try:
            jobs = [x.generate(HELLO, GenerateConfig()) for x in (a, b) for _ in range(15)]
            return await asyncio.gather(*jobs)
        finally:
            await a.aclose()
            await b.aclose()

    results = asyncio.run(both())
    assert len(results) == 30  # no 503 from the server: never more than 3 in flight
    assert a.stats.retries == b.stats.retries == 0


def test_waiting_for_a_connection_slot_does_not_spend_the_retry_budget(
    katan: KatanFactory,
) -> None:
    server = katan(latency_ms=300, max_concurrent=16)
    # 8 requests through 1 connection queue for about 2.4 s, more than the 1 s budget.
    m = model(server.base_url, max_connections=1, retry_budget_s=1.0, timeout_s=5.0)

    async def queued():  # type: ignore[no-untyped-def]
        return await asyncio.gather(*(m.generate(HELLO, GenerateConfig()) for _ in range(8)))

    assert len(run_closing(m, queued)) == 8
    assert m.stats.failures == 0


def test_without_limit_overload_503s_are_retried(katan: KatanFactory) -> None:
    server = katan(max_inflight=2, latency_ms=30, max_concurrent=16)
    m = model(server.base_url, max_retries=30, backoff_base_s=0.02, backoff_max_s=0.3)

    async def many():  # type: ignore[no-untyped-def]
        return await asyncio.gather(*(m.generate(HELLO, GenerateConfig()) for _ in range(20)))

    assert len(run_closing(m, many)) == 20
    assert all("HTTP 503" in reason for reason in m.stats.reasons)


def test_request_that_keeps_failing_raises_after_budget(katan: KatanFactory) -> None:
    server = katan(error_rate=1.0)
    m = model(server.base_url, max_retries=1000, retry_budget_s=1.0, backoff_base_s=0.05)
    with pytest.raises(ModelError, match=r"budget 1s spent\): HTTP 500: internal server error"):
        run_closing(m, lambda: m.generate(HELLO, GenerateConfig()))
    assert m.stats.attempts > 1


def test_timeouts_are_retried_then_reported(katan: KatanFactory) -> None:
    server = katan(latency_ms=5000, max_concurrent=8)
    m = model(server.base_url, timeout_s=0.3, retry_budget_s=1.0, backoff_base_s=0.05)
    with pytest.raises(ModelError, match="timed out"):
        run_closing(m, lambda: m.generate(HELLO, GenerateConfig()))
    assert m.stats.attempts > 1


def test_connection_refused_is_retried_then_reported() -> None:
    m = model(f"http://127.0.0.1:{free_port()}/v1", retry_budget_s=0.5, backoff_base_s=0.05)
    with pytest.raises(ModelError, match="connection error"):
        run_closing(m, lambda: m.generate(HELLO, GenerateConfig()))
    assert m.stats.attempts > 1


def test_non_retryable_errors_fail_at_once(katan: KatanFactory) -> None:
    server = katan(validate_keys=True, api_keys="openai=sk-the-right-key")
    wrong = model(server.base_url, api_key="sk-a-wrong-key-4242")
    with pytest.raises(ModelError, match=r"HTTP 401.*not retried") as caught:
        run_closing(wrong, lambda: wrong.generate(HELLO, GenerateConfig()))
    assert wrong.stats.attempts == 1
    assert "sk-a-wrong-key-4242" not in str(caught.value)
    missing = model(server.root_url + "/nowhere", api_key="sk-the-right-key")
    with pytest.raises(ModelError, match=r"HTTP 404.*not retried"):
        run_closing(missing, lambda: missing.generate(HELLO, GenerateConfig()))
    assert missing.stats.attempts == 1
    right = model(server.base_url, api_key="sk-the-right-key")
    assert "User:" in run_closing(right, lambda: right.generate(HELLO, GenerateConfig())).text


# --------------------------------------------------------------------------- secrets


def test_api_key_never_reaches_the_cache_dir(katan: KatanFactory, tmp_path: Path) -> None:
    secret = "sk-DISTINCTIVE-secret-0d1e2b"
    server = katan()
    inner = model(server.base_url, api_key=secret)
    cache_dir = tmp_path / "cache"
    cached = CachedModel(inner, cache_dir)

    async def work():  # type: ignore[no-untyped-def]
        for i in range(3):
            await cached.generate([ChatMessage(role="user", content=f"q{i}")], GenerateConfig())
        await cached.generate(HELLO, GenerateConfig(choices=("A", "B")))

    run_closing(cached, work)
    files = [p for p in cache_dir.rglob("*") if p.is_file()]
    assert len(files) == 4
    for path in files:
        assert secret not in path.read_text()
    assert secret not in repr(inner) and secret not in repr(cached)


# --------------------------------------------------------------------------- real inference


@pytest.mark.slow
def test_katan_transformers_backend(katan: KatanFactory) -> None:
    """llm-katan's transformers backend serves the embedded model's HF checkpoint."""
    pytest.importorskip("transformers")
    from debate.models.local import embedded_checkpoint_dir

    checkpoint = embedded_checkpoint_dir()
    server = katan(
        backend="transformers",
        model=str(checkpoint),
        served_model_name="smollm2",
        device="cpu",
        no_quantize=True,
    )
    m = create_model("openai/smollm2", base_url=server.base_url)
    assert isinstance(m, OpenAIModel)
    question = [ChatMessage(role="user", content="What is the capital of France? One word.")]
    config = GenerateConfig(max_tokens=12)

    async def both():  # type: ignore[no-untyped-def]
        plain = await m.generate(question, config)
        pieces: list[str] = []
        streamed = await m.generate(question, config, on_delta=pieces.append)
        return plain, streamed, pieces

    plain, streamed, pieces = run_closing(m, both)
    assert "Paris" in plain.text  # greedy decoding by a real model
    assert "[echo]" not in plain.text
    assert 0 < plain.usage.completion_tokens <= 12 and plain.usage.prompt_tokens > 0
    assert streamed.text == plain.text == "".join(pieces)
