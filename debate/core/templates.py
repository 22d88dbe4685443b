"""Jinja templates of declarations: compiled once, rendered many times per unit.

`render` takes the variables that stay fixed during a unit as one shared mapping and
layers the changing ones (round, defended answer, step values) over it, reusing one
jinja context per template: at tens of thousands of turns per second, copying variable
dicts and building contexts cost more than the renders themselves.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jinja2
import jinja2.meta
from jinja2.runtime import new_context

from debate.errors import DebateInputError

ENVIRONMENT = jinja2.Environment(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
)


@lru_cache(maxsize=1024)
def compile_template(source: str) -> jinja2.Template:
    return ENVIRONMENT.from_string(source)


@lru_cache(maxsize=1024)
def template_names(source: str) -> frozenset[str]:
    """The variable names a template reads."""
    try:
        return frozenset(jinja2.meta.find_undeclared_variables(ENVIRONMENT.parse(source)))
    except jinja2.TemplateSyntaxError:
        return frozenset({"round"})


_CONTEXTS: dict[str, tuple[jinja2.Template, jinja2.runtime.Context]] = {}


def render(
    source: str,
    variables: dict[str, Any],
    where: str = "",
    overrides: dict[str, Any] | None = None,
) -> str:
    """Render a template. `variables` must already hold the environment's globals (the
    role constants include them). It is shared, not copied: `overrides` (values that
    change during a unit) are layered over it as the render's own variables (and the
    render may add to them)."""
    try:
        template = compile_template(source)
        # One jinja context per compiled template, re-pointed at each render's variables:
        # making a context costs more than most renders, and rendering never awaits, so a
        # context is never in use twice at once.
        cached = _CONTEXTS.get(source)
        if cached is None or cached[0] is not template:
            context = new_context(ENVIRONMENT, None, template.blocks, variables, shared=True)
            if len(_CONTEXTS) > 1024:
                _CONTEXTS.clear()
            _CONTEXTS[source] = (template, context)
        else:
            context = cached[1]
        context.parent = variables
        context.vars = overrides if overrides is not None else {}
        context.exported_vars = set()
        return "".join(template.root_render_func(context)).strip()
    except jinja2.TemplateError as exc:
        prefix = f"{where}: " if where else ""
        raise DebateInputError(f"{prefix}template error: {exc}") from exc
