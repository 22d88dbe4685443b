"""The on-disk completion cache: key stability and sensitivity, counters, corrupt
files, single flight, and that transport settings and secrets stay out of it."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from katan import KatanFactory, free_port, katan_fixture  # noqa: F401

from debate.models import ChatMessage, Completion, GenerateConfig, ModelError, Usage, create_model
from debate.models.cache import CachedModel, CompletionCache, cache_key
from debate.models.scripted import ScriptedModel

MESSAGES = (
    ChatMessage(role="system", content="Be brief."),
    ChatMessage(role="user", content="Is the sky blue?"),
)
BASE = GenerateConfig(max_tokens=64, temperature=0.7, seed=1)


def test_key_is_stable_and_canonical() -> None:
    first = cache_key("openai/m", MESSAGES, BASE)
    again = cache_key(
        "openai/m", list(MESSAGES), GenerateConfig(seed=1, temperature=0.7, max_tokens=64)
    )
    assert first == again
    assert len(first) == 64 and int(first, 16) >= 0


@pytest.mark.parametrize(
    "change",
    [
        {"seed": 2},
        {"seed": None},
        {"epoch": 1},
        {"temperature": 0.0},
        {"top_p": 0.9},
        {"max_tokens": 65},
        {"stop": ("\n",)},
        {"choices": ("A", "B")},
    ],
)
def test_key_changes_with_every_sampling_setting(change: dict[str, object]) -> None:
    changed = replace(BASE, **change)
    assert cache_key("openai/m", MESSAGES, changed) != cache_key("openai/m", MESSAGES, BASE)


def test_key_changes_with_model_and_messages() -> None:
    key = cache_key("openai/m", MESSAGES, BASE)
    assert cache_key("openai/other", MESSAGES, BASE) != key
    edited = (MESSAGES[0], ChatMessage(role="user", content="Is the sky green?"))
    assert cache_key("openai/m", edited, BASE) != key
    role_swapped = (MESSAGES[0], ChatMessage(role="assistant", content=MESSAGES[1].content))
    assert cache_key("openai/m", role_swapped, BASE) != key
    assert cache_key("openai/m", MESSAGES[1:], BASE) != key


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_hits_and_misses(tmp_path: Path) -> None:
    inner = ScriptedModel("scripted")
    cached = CachedModel(inner, tmp_path)

    async def work() -> list[Completion]:
        out = [await cached.generate(MESSAGES, BASE)]
        out.append(await cached.generate(MESSAGES, BASE))
        out.append(await cached.generate(MESSAGES, replace(BASE, epoch=1)))
        out.append(await cached.generate(MESSAGES, BASE))
        return out

    results = run(work())
    assert (cached.hits, cached.misses, inner.calls) == (2, 2, 2)
    assert [r.cached for r in results] == [False, True, False, True]
    assert results[1].text == results[0].text and results[1].usage == results[0].usage
    assert cached.hit_usage == results[0].usage + results[0].usage
    assert cached.name == inner.name

    # A fresh process (new wrapper, same directory) hits too.
    again = CachedModel(ScriptedModel("scripted"), tmp_path)
    assert run(again.generate(MESSAGES, BASE)).cached is True
    assert (again.hits, again.misses) == (1, 0)
    assert not list(tmp_path.rglob("*.tmp"))  # writes are atomic


def test_hit_replays_text_through_on_delta(tmp_path: Path) -> None:
    cached = CachedModel(ScriptedModel("scripted"), tmp_path)
    first = run(cached.generate(MESSAGES, BASE))
    pieces: list[str] = []
    second = run(cached.generate(MESSAGES, BASE, on_delta=pieces.append))
    assert second.cached and "".join(pieces) == first.text


def test_choice_logprobs_round_trip(tmp_path: Path) -> None:
    cached = CachedModel(ScriptedModel("scripted"), tmp_path)
    config = replace(BASE, choices=("A", "B"))
    first = run(cached.generate(MESSAGES, config))
    second = run(cached.generate(MESSAGES, config))
    assert first.choice_logprobs and second.choice_logprobs == first.choice_logprobs


@pytest.mark.parametrize("garbage", [b"", b"{not json", b'{"text": 3}', b"\xff\xfe"])
def test_corrupt_file_is_a_miss_and_is_overwritten(tmp_path: Path, garbage: bytes) -> None:
    inner = ScriptedModel("scripted")
    cached = CachedModel(inner, tmp_path)
    key = cache_key(inner.name, MESSAGES, BASE)
    path = CompletionCache(tmp_path).path(key)
    path.parent.mkdir(parents=True)
    path.write_bytes(garbage)
    result = run(cached.generate(MESSAGES, BASE))
    assert result.cached is False and (cached.hits, cached.misses) == (0, 1)
    assert Completion.from_json(path.read_bytes()).text == result.text
    assert run(cached.generate(MESSAGES, BASE)).cached is True


def test_concurrent_identical_requests_share_one_call(tmp_path: Path) -> None:
    started = 0

    def slow(messages: object, config: GenerateConfig) -> str:
        nonlocal started
        started += 1
        return "one answer"

    class Slow(ScriptedModel):
        async def generate(self, messages, config, on_delta=None):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.05)
            return await super().generate(messages, config, on_delta)

    inner = Slow("scripted", responder=slow)
    cached = CachedModel(inner, tmp_path)

    async def burst() -> list[Completion]:
        return await asyncio.gather(*(cached.generate(MESSAGES, BASE) for _ in range(10)))

    results = run(burst())
    assert started == 1 and inner.calls == 1
    assert (cached.hits, cached.misses) == (9, 1)
    assert {r.text for r in results} == {"one answer"}
    assert sum(not r.cached for r in results) == 1


def test_failures_are_not_cached(tmp_path: Path) -> None:
    calls = 0

    def flaky(messages: object, config: GenerateConfig) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ModelError("server said no")
        return "fine"

    cached = CachedModel(ScriptedModel("scripted", responder=flaky), tmp_path)
    with pytest.raises(ModelError):
        run(cached.generate(MESSAGES, BASE))
    assert not list(tmp_path.rglob("*.json"))
    assert run(cached.generate(MESSAGES, BASE)).text == "fine"


def test_transport_settings_and_key_stay_out_of_the_key(
    katan: KatanFactory, tmp_path: Path
) -> None:
    """Answers cached through one server and key are hits for another server and key."""
    server = katan()
    first = create_model("openai/katan-echo", base_url=server.base_url, api_key="sk-one-111")
    dead_url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens: a miss would fail
    second = create_model(
        "openai/katan-echo", base_url=dead_url, api_key="sk-two-222", retry_budget_s=0.2
    )

    async def work() -> tuple[Completion, Completion]:
        a = CachedModel(first, tmp_path)
        b = CachedModel(second, tmp_path)
        try:
            return await a.generate(MESSAGES, BASE), await b.generate(MESSAGES, BASE)
        finally:
            await a.aclose()
            await b.aclose()

    fetched, replayed = run(work())
    assert replayed.cached and replayed.text == fetched.text
    for path in tmp_path.rglob("*.json"):
        text = path.read_text()
        assert "sk-one-111" not in text and "sk-two-222" not in text
        assert dead_url not in text


def test_usage_of_a_hit_is_the_stored_usage(tmp_path: Path) -> None:
    stored = Completion(
        text="x", model="scripted", usage=Usage(prompt_tokens=5, completion_tokens=2)
    )
    cached = CachedModel(ScriptedModel("scripted", responder=lambda m, c: stored), tmp_path)
    run(cached.generate(MESSAGES, BASE))
    hit = run(cached.generate(MESSAGES, BASE))
    assert hit.cached and hit.usage == stored.usage and cached.hit_usage == stored.usage


def test_a_cancelled_first_caller_does_not_fail_the_waiters(tmp_path: Path) -> None:
    started = 0

    class Slow(ScriptedModel):
        async def generate(self, messages, config, on_delta=None):  # type: ignore[no-untyped-def]
            nonlocal started
            started += 1
            await asyncio.sleep(0.2)
            return await super().generate(messages, config, on_delta)

    inner = Slow("scripted", responder=lambda m, c: "late answer")
    cached = CachedModel(inner, tmp_path)

    async def scene() -> Completion:
        first = asyncio.create_task(cached.generate(MESSAGES, BASE))
        await asyncio.sleep(0.01)  # let the first caller start the backend call
        second = asyncio.create_task(cached.generate(MESSAGES, BASE))
        await asyncio.sleep(0.01)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        return await second

    result = run(scene())
    # The waiter took over: the backend was started twice and finished once.
    assert result.text == "late answer" and started == 2 and inner.calls == 1
    assert not result.cached
