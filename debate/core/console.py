"""What every command shares: the consoles, one-line failures, and `ROLE=VALUE` options.

Feature packages' commands import these instead of the CLI module, so the application
(`debate.cli`) can import the features and never the other way round.
"""

from __future__ import annotations

import typer
from rich.console import Console

from debate.errors import DebateInputError

console = Console()
errors = Console(stderr=True)


def fail(*lines: str) -> None:
    for line in lines:
        typer.echo(line, err=True)
    raise typer.Exit(2)


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
