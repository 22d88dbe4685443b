"""The page a person answers `human` model requests in, served with aiohttp on 127.0.0.1.

Routes: `/` (the page), `/static/*` (its script and style), `GET /api/next` (the
request to show, waiting up to a few seconds for one), `POST /api/answer`. The page
gets a random key in a meta tag and sends it back with every API call, so another site
open in the same browser cannot read or answer requests; the `Host` header must name
the loopback address (no DNS rebinding). Everything the page shows is set as text,
never parsed as HTML, and a content security policy forbids inline and foreign scripts.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import json
import secrets
from importlib import resources
from typing import Any, Protocol

from aiohttp import web


class PendingPage(Protocol):
    """What the server needs of a request waiting for the person."""

    def to_page(self) -> dict[str, Any]: ...


class HumanModel(Protocol):
    """What the page server needs of the `human` backend (`debate.models.human`)."""

    annotator: str

    @property
    def changed(self) -> asyncio.Event: ...

    def current(self) -> PendingPage | None: ...

    def status(self) -> dict[str, Any]: ...

    def submit(self, number: int, answer: dict[str, Any]) -> dict[str, Any]: ...


HOST = "127.0.0.1"
WAIT_S = 20.0
MAX_BODY = 256 * 1024
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
ASSETS = {"human.js": "text/javascript", "human.css": "text/css"}
MODEL: web.AppKey[HumanModel] = web.AppKey("model")
KEY = web.AppKey("key", str)
PORT: web.AppKey[list[int]] = web.AppKey("port")  # filled in once the socket is bound


def _asset(name: str) -> str:
    return resources.files("debate.models").joinpath("human_page", name).read_text("utf-8")


@web.middleware
async def _guard(request: web.Request, handler: Any) -> web.StreamResponse:
    port = request.app[PORT][0]
    if request.host not in (f"{HOST}:{port}", f"localhost:{port}"):
        raise web.HTTPForbidden(text="wrong host")
    if request.path.startswith("/api/"):
        key = request.headers.get("X-Debate-Key", "")
        if not hmac.compare_digest(key, request.app[KEY]):
            raise web.HTTPForbidden(text="missing or wrong page key")
    response = await handler(request)
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


async def _page(request: web.Request) -> web.Response:
    model = request.app[MODEL]
    text = _asset("index.html")
    text = text.replace("{{key}}", request.app[KEY]).replace(
        "{{annotator}}", html.escape(model.annotator)
    )
    return web.Response(text=text, content_type="text/html")


async def _static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound()
    return web.Response(text=_asset(name), content_type=ASSETS[name])


async def _next(request: web.Request) -> web.Response:
    model = request.app[MODEL]
    current = model.current()
    if current is None and not model.status()["closed"]:
        changed = model.changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), WAIT_S)
        current = model.current()
    return web.json_response({"request": current.to_page() if current else None, **model.status()})


async def _answer(request: web.Request) -> web.Response:
    model = request.app[MODEL]
    try:
        body = json.loads(await request.text())
        if not isinstance(body, dict) or not isinstance(body.get("id"), int):
            raise ValueError("expected a JSON object with the request's id")
        result = model.submit(body["id"], body)
    except LookupError as exc:
        return web.json_response({"error": str(exc)}, status=409)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(result)


async def serve(model: HumanModel, port: int) -> tuple[web.AppRunner, str]:
    """Start the page on 127.0.0.1:port (0 picks a free port); returns the runner and URL."""
    app = web.Application(middlewares=[_guard], client_max_size=MAX_BODY)
    app[MODEL] = model
    app[KEY] = secrets.token_urlsafe(24)
    app[PORT] = [port]
    app.router.add_get("/", _page)
    app.router.add_get("/static/{name}", _static)
    app.router.add_get("/api/next", _next)
    app.router.add_post("/api/answer", _answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        from debate.errors import DebateInputError

        raise DebateInputError(
            f"--human-port: cannot listen on {HOST}:{port} ({exc.strerror or exc})"
        ) from None
    bound = int(runner.addresses[0][1])
    app[PORT][0] = bound
    return runner, f"http://{HOST}:{bound}/"
