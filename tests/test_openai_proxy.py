"""The plain OpenAI-compatible path takes its proxy from the environment, as the SDK does."""

from __future__ import annotations

import pytest

from debate.models.openai_http import proxy_for


def test_proxy_from_the_environment_and_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    assert proxy_for("https://api.openai.com/v1") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "vllm.internal")
    assert proxy_for("https://api.openai.com/v1") == "http://proxy.internal:3128"
    assert proxy_for("https://vllm.internal/v1") is None
    assert proxy_for("http://api.openai.com/v1") is None  # no HTTP_PROXY for http
