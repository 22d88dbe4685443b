"""What every command shares: the consoles, one-line failures, and `ROLE=VALUE` options.

Feature packages' commands import these instead of the CLI module, so the application
(`debate.cli`) can import the features and never the other way round.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import typer
from rich.console import Console

from debate.errors import EXIT_BAD_INPUT, DebateInputError

console = Console()
errors = Console(stderr=True)


def fail(*lines: str) -> None:
    for line in lines:
        typer.echo(line, err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def check_base_url(url: str, option: str) -> str:
    """An http(s) URL with a host, or a one-line error (a typo would be retried per call)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise DebateInputError(f"{option}: '{url}': not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DebateInputError(
            f"{option}: '{url}': expected an http:// or https:// URL such as "
            "http://127.0.0.1:8000/v1"
        )
    return url


def parse_bindings(values: list[str], option: str) -> dict[str, str]:
    """`ROLE=VALUE` pairs; a bare `VALUE` binds every role (key "")."""
    bindings: dict[str, str] = {}
    for value in values:
        key, sep, target = value.partition("=")
        if not sep:
            key, target = "", value
        if not target or (sep and not key):
            raise DebateInputError(f"{option}: '{value}': expected ROLE=VALUE or VALUE")
        bindings[key.strip()] = target.strip()
    return bindings


def parse_variants(values: list[str]) -> dict[str, list[str]]:
    variants: dict[str, list[str]] = {}
    for value in values:
        key, sep, choices = value.partition("=")
        items = [item.strip() for item in choices.split(",") if item.strip()]
        if not sep or not key or not items:
            raise DebateInputError(f"--variant: '{value}': expected KEY=V1,V2")
        variants[key] = items
    return variants
