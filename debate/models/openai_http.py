"""The HTTP side of the `openai/<model>` backend: the plain (non-streaming) request path,
the SDK's transport for streaming ones, and who serves a base URL.

A chat completion without streaming is one JSON POST. Sent through the SDK's generic
request machinery (option models, URL parsing, header merging, response wrapping), it
costs about a millisecond of client CPU, which at hundreds of concurrent debates is
most of the client's time and caps throughput below what a fast server gives. This
path sends the same request on an aiohttp session, with the headers the SDK sends that
matter to servers (bearer key, organisation and project when set), and raises the SDK's
own exception types, so retries, `Retry-After`, feature probes and error messages work
the same on both paths. Streaming requests (the live view) go through the SDK.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from typing import Any

import aiohttp
import openai

from debate.models.openai_retry import body_message, httpx
from debate.models.per_loop import PerLoop


class JsonPoster:
    """POSTs JSON to one OpenAI-compatible base URL; one aiohttp session per event loop."""

    def __init__(self, base_url: str, api_key: str, max_connections: int | None) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        for header, variable in (
            ("OpenAI-Organization", "OPENAI_ORG_ID"),
            ("OpenAI-Project", "OPENAI_PROJECT_ID"),
        ):
            if os.environ.get(variable):
                self._headers[header] = os.environ[variable]
        self.max_connections = max_connections
        # HTTP(S)_PROXY / NO_PROXY, as the SDK's own client honours them; looked up once
        # (aiohttp's trust_env looks them up on every request, doubling its CPU per call)
        self._proxy = proxy_for(self.base_url)
        self._sessions = PerLoop(self._new_session, _close_session, lambda s: s.closed)

    def __repr__(self) -> str:  # never show the headers: they hold the key
        return f"JsonPoster({self.base_url!r})"

    def _new_session(self) -> aiohttp.ClientSession:
        limit = self.max_connections or 1000  # the SDK's own default pool size
        connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit)
        return aiohttp.ClientSession(connector=connector, headers=self._headers)

    async def post(self, path: str, body: dict[str, Any], timeout_s: float) -> Any:
        """The parsed JSON reply, or the SDK's exception for what went wrong."""
        url = f"{self.base_url}{path}"
        try:
            async with self._sessions.get().post(
                url,
                data=json.dumps(body),
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                proxy=self._proxy,
            ) as reply:
                raw = await reply.read()
                status = reply.status
                headers = list(reply.headers.items()) if status >= 400 else []
        # the SDK's exceptions want an httpx request; built only when one is raised
        except TimeoutError:
            raise openai.APITimeoutError(request=httpx.Request("POST", url)) from None
        except aiohttp.ClientError as exc:
            request = httpx.Request("POST", url)
            raise openai.APIConnectionError(message=str(exc), request=request) from exc
        if status >= 400:
            raise _status_error(status, headers, raw, httpx.Request("POST", url))
        try:
            return json.loads(raw)
        except ValueError:
            return None  # the caller reports a reply without choices

    async def server_kind(self, timeout_s: float) -> str:
        """Who serves this base URL, from the `owned_by` of `GET /models` (`vllm`,
        `sglang`, ...); "unknown" when that does not answer or says nothing."""
        try:
            async with self._sessions.get().get(
                f"{self.base_url}/models",
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                proxy=self._proxy,
            ) as reply:
                if reply.status != 200:
                    return "unknown"
                data = json.loads(await reply.read())
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return "unknown"
        models = data.get("data") if isinstance(data, dict) else None
        owners = {
            str(entry.get("owned_by")).lower()
            for entry in models or []
            if isinstance(entry, dict) and entry.get("owned_by")
        }
        return owners.pop() if len(owners) == 1 else "unknown"

    async def aclose(self) -> None:
        await self._sessions.aclose()


async def _close_session(session: aiohttp.ClientSession) -> None:
    await session.close()


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for `url` (HTTP(S)_PROXY, ALL_PROXY), or None
    (none set, or NO_PROXY covers the host)."""
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(parts.scheme) or proxies.get("all")


def _status_error(
    status: int, headers: list[tuple[str, str]], raw: bytes, request: Any
) -> openai.APIStatusError:
    """The SDK's error for an HTTP error reply, with its body and headers."""
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = raw.decode("utf-8", "replace")[:500] or None
    response = httpx.Response(status, headers=headers, content=raw, request=request)
    detail = body_message(body) or body
    return openai.APIStatusError(f"Error code: {status} - {detail}", response=response, body=body)


def sdk_http_client(options: dict[str, Any]) -> Any:
    """The SDK's aiohttp transport when it is installed (about a third of the client CPU
    per request of the default httpx transport, which matters at hundreds of concurrent
    requests), else its httpx default. `DEBATE_OPENAI_TRANSPORT=httpx` forces the latter."""
    if os.environ.get("DEBATE_OPENAI_TRANSPORT", "").strip().lower() != "httpx":
        aiohttp_client = getattr(openai, "DefaultAioHttpClient", None)
        try:
            if aiohttp_client is not None:
                return aiohttp_client(**options)
        except RuntimeError:  # the SDK was installed without its aiohttp extra
            pass
    return openai.DefaultAsyncHttpxClient(**options)


class KeyHolder:
    """Holds the key without showing it in `repr` or `vars()` dumps by accident."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def __repr__(self) -> str:
        return "KeyHolder(***)"
