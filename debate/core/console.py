"""What every command shares: the consoles, one-line failures, and `ROLE=VALUE` options.

Feature packages' commands import these instead of the CLI module, so the application
(`debate.cli`) can import the features and never the other way round.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
import yaml
from rich.console import Console

from debate.core.bindings import merge_fields
from debate.errors import EXIT_BAD_INPUT, DebateInputError

PricesOption = Annotated[
    Path | None,
    typer.Option(help="Price table YAML (USD per million tokens); default $DEBATE_PRICES."),
]
"""The `--prices` option of every command that runs models (run, bench, judge)."""

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


def parse_model_args(values: list[str]) -> dict[str, dict[str, Any]]:
    """`ROLE=KEY=VALUE` (or `KEY=VALUE` for every openai/ role) request fields, by role.

    VALUE is read as YAML (`false`, `5`, `{"enable_thinking": false}`, or a plain
    string); a dotted KEY (`chat_template_kwargs.enable_thinking`) makes nested objects.
    """
    fields: dict[str, dict[str, Any]] = {}
    for value in values:
        parts = value.split("=", 2)
        if len(parts) == 2:
            parts = ["", *parts]
        elif len(parts) == 3 and not parts[0].strip():
            parts = []  # "=KEY=VALUE": a role left empty
        if len(parts) != 3 or not parts[1].strip():
            raise DebateInputError(f"--model-arg: '{value}': expected ROLE=KEY=VALUE or KEY=VALUE")
        role, key, raw = (part.strip() for part in parts)
        try:
            parsed: Any = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            parsed = raw
        for name in reversed(key.split(".")):
            if not name:
                raise DebateInputError(f"--model-arg: '{value}': empty name in '{key}'")
            parsed = {name: parsed}
        fields[role] = merge_fields(fields.get(role, {}), parsed)
    return fields


def parse_variants(values: list[str]) -> dict[str, list[str]]:
    variants: dict[str, list[str]] = {}
    for value in values:
        key, sep, choices = value.partition("=")
        items = [item.strip() for item in choices.split(",") if item.strip()]
        if not sep or not key or not items:
            raise DebateInputError(f"--variant: '{value}': expected KEY=V1,V2")
        variants[key] = items
    return variants
