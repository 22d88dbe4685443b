"""`debate view`'s web server (aiohttp): the page, its static files and the runs' data.

Routes: `/` (the page), `/static/*` (its script and style), `GET /api/data` (every
run's payload, read fresh from disk, so reloading the page follows a running run) and
`GET /api/plot?run=I&name=N` (a plot the payload lists, nothing else). It listens on
127.0.0.1 by default and then refuses requests whose `Host` is not loopback (no DNS
rebinding); any other address needs a token, which the page asks for and sends with
every API call. Responses carry a content security policy that allows only the page's
own script and style, so nothing in a transcript can load or run anything.
"""

from __future__ import annotations

import hmac
import ipaddress
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from debate.errors import DebateInputError
from debate.view.data import Annotator, find_plots, load_runs

POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
STATIC = {"viewer.js": "text/javascript", "viewer.css": "text/css"}
LOOPBACK_NAMES = ("localhost",)


def asset(name: str) -> str:
    """A file of the page (shipped in the wheel as package data)."""
    return resources.files("debate.view").joinpath("static", name).read_text("utf-8")


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listen(host: str, token: str | None) -> None:
    """A non-loopback address needs a token (one-line error otherwise)."""
    if not is_loopback(host) and not token:
        raise DebateInputError(
            f"--host {host}: listening beyond this machine needs --token (the page asks for it)"
        )


class Viewer:
    """The state behind the routes: which runs, the token, the feature annotators."""

    def __init__(
        self, runs: list[Path], *, token: str | None, loopback: bool, annotators: list[Annotator]
    ) -> None:
        self.runs = runs
        self.token = token
        self.loopback = loopback
        self.annotators = annotators

    def payload(self) -> dict[str, Any]:
        def plot_src(index: int, relative: Path) -> str:
            return f"api/plot?run={index}&name={relative.as_posix()}"

        return load_runs(self.runs, plot_src=plot_src, annotators=self.annotators)

    def plot(self, run: int, name: str) -> Path | None:
        if not 0 <= run < len(self.runs):
            return None
        for path in find_plots(self.runs[run]):  # only files the payload lists
            if path.relative_to(self.runs[run]).as_posix() == name:
                return path
        return None


VIEWER = web.AppKey("viewer", Viewer)


@web.middleware
async def _guard(request: web.Request, handler: Any) -> web.StreamResponse:
    viewer = request.app[VIEWER]
    if viewer.loopback and not is_loopback(request.url.host or ""):
        raise web.HTTPForbidden(text="this viewer answers on its loopback address only")
    if request.path.startswith("/api/") and viewer.token is not None:
        given = request.headers.get("X-Debate-Token") or request.query.get("token", "")
        if not hmac.compare_digest(given.encode(), viewer.token.encode()):
            raise web.HTTPUnauthorized(text="missing or wrong token")
    response = await handler(request)
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


async def _page(request: web.Request) -> web.Response:
    page = asset("index.html")
    if request.app[VIEWER].token is not None:
        page = page.replace('content="no-token"', 'content="token"')
    return web.Response(text=page, content_type="text/html")


async def _static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    return web.Response(text=asset(name), content_type=STATIC[name])


async def _data(request: web.Request) -> web.Response:
    viewer = request.app[VIEWER]
    try:
        payload = viewer.payload()
    except DebateInputError as exc:
        return web.json_response({"error": str(exc)}, status=500)
    return web.json_response(payload)


async def _plot(request: web.Request) -> web.StreamResponse:
    try:
        run = int(request.query.get("run", "-1"))
    except ValueError:
        raise web.HTTPNotFound() from None
    path = request.app[VIEWER].plot(run, request.query.get("name", ""))
    if path is None:
        raise web.HTTPNotFound()
    return web.FileResponse(path)


def make_app(viewer: Viewer) -> web.Application:
    app = web.Application(middlewares=[_guard])
    app[VIEWER] = viewer
    app.router.add_get("/", _page)
    app.router.add_get("/static/{name}", _static)
    app.router.add_get("/api/data", _data)
    app.router.add_get("/api/plot", _plot)
    return app


async def start(viewer: Viewer, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Listen on host:port (0 picks a free port); returns the runner and the page's URL."""
    runner = web.AppRunner(make_app(viewer), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise DebateInputError(f"--port: cannot listen on {host}:{port} ({exc})") from None
    bound = int(runner.addresses[0][1])
    shown = f"[{host}]" if ":" in host else host
    return runner, f"http://{shown}:{bound}/"
