"""Jinja templates of declarations, sandboxed: compiled once, rendered many times per unit.

Declarations are shared between people, so a template is untrusted code. Templates
compile in jinja's immutable sandbox (no attribute starting with an underscore, no
mutating methods, no file or module access) and every render is bounded:

| limit | value |
|---|---|
| characters a render may produce | `MAX_OUTPUT` (1,000,000) |
| loop iterations per render (all `for` loops together) | `MAX_LOOP_ITERATIONS` (10,000) |
| items of one `range(...)` | `MAX_RANGE` (10,000) |
| size of a string or list built by `*`, `+`, `~`, a filter or a method | `MAX_OUTPUT` |
| an integer argument of a filter or method (a width, a count) | `MAX_OUTPUT` |
| `**` | results up to 4,096 bits |

A template breaking one of them fails with a `DebateInputError` naming the file and
field, like any other template error. Scenario data only ever enters a template as a
variable's value, never as template text.

`render` takes the variables that stay fixed during a unit as one shared mapping and
layers the changing ones (round, defended answer, step values) over it, reusing one
jinja context per template: at tens of thousands of turns per second, copying variable
dicts and building contexts cost more than the renders themselves.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache, wraps
from typing import Any

import jinja2
import jinja2.meta
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import new_context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from debate.errors import DebateInputError

MAX_OUTPUT = 1_000_000
MAX_LOOP_ITERATIONS = 10_000
MAX_RANGE = 10_000
MAX_POWER_BITS = 4096
_DIGITS = re.compile(r"\d+")


class _Budget:
    """What the render in progress has spent (renders are synchronous: one at a time)."""

    __slots__ = ("iterations",)

    def __init__(self) -> None:
        self.iterations = 0


_BUDGET = _Budget()


def _too_big(what: str, size: int) -> SecurityError:
    return SecurityError(f"{what} of {size:,} exceeds the template limit of {MAX_OUTPUT:,}")


def _check_size(value: Any) -> Any:
    if isinstance(value, str | list | tuple | bytes | dict) and len(value) > MAX_OUTPUT:
        raise _too_big(f"a {type(value).__name__}", len(value))
    return value


def _check_arguments(args: Iterable[Any]) -> None:
    for value in args:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_OUTPUT:
            raise _too_big("an integer argument", value)


def _check_format(text: Any) -> None:
    """A width or precision inside a format string allocates before anything can check."""
    if isinstance(text, str):
        for digits in _DIGITS.findall(text):
            if len(digits) > 7 or int(digits) > MAX_OUTPUT:
                raise _too_big("a number in a format string", int(digits[:12]))


def bounded_range(*args: int) -> range:
    """`range` for templates: at most `MAX_RANGE` items."""
    _check_arguments(args)
    items = range(*args)
    if len(items) > MAX_RANGE:
        raise SecurityError(f"range of {len(items):,} items exceeds the limit of {MAX_RANGE:,}")
    return items


def _bounded_loop(iterable: Any) -> Iterator[Any]:
    """Every `for` loop iterates through this: all loops of a render share one budget."""
    budget = _BUDGET
    for item in iterable:
        budget.iterations += 1
        if budget.iterations > MAX_LOOP_ITERATIONS:
            raise SecurityError(f"more than {MAX_LOOP_ITERATIONS:,} loop iterations in one render")
        yield item


def _guard_filter(function: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _check_arguments(args)
        _check_arguments(kwargs.values())
        return _check_size(function(*args, **kwargs))

    return guarded


def _power(left: Any, right: Any) -> Any:
    if (
        isinstance(left, int)
        and isinstance(right, int)
        and right > 0
        and max(1, abs(left).bit_length()) * right > MAX_POWER_BITS
    ):
        raise SecurityError(f"{left} ** {right} exceeds the template limit")
    return operator.pow(left, right)


def _repeat(left: Any, right: Any) -> Any:
    for sequence, count in ((left, right), (right, left)):
        if (
            isinstance(sequence, str | list | tuple)
            and isinstance(count, int)
            and len(sequence) * max(count, 0) > MAX_OUTPUT
        ):
            raise _too_big("a repeated sequence", len(sequence) * count)
    return operator.mul(left, right)


def _modulo(left: Any, right: Any) -> Any:
    _check_format(left)
    return _check_size(operator.mod(left, right))


def _add(left: Any, right: Any) -> Any:
    return _check_size(operator.add(left, right))


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "**": _power,
    "*": _repeat,
    "%": _modulo,
    "+": _add,
}
_SIZED_FILTER = "__debate_bounded__"
_LOOP_FILTER = "__debate_loop__"


class DeclarationEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with every render's cost bounded (see the module's table)."""

    intercepted_binops = frozenset(_BINOPS)

    def __init__(self) -> None:
        super().__init__(
            undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
        )
        self.globals = {"range": bounded_range, "dict": dict, "namespace": jinja2.utils.Namespace}
        self.filters = {name: _guard_filter(f) for name, f in self.filters.items()}
        self.filters[_SIZED_FILTER] = _check_size
        self.filters[_LOOP_FILTER] = _bounded_loop

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        return _BINOPS[operator_name](left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _check_arguments(args)
        _check_arguments(kwargs.values())
        target = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format
        if getattr(target, "__name__", "") in ("format", "format_map"):
            _check_format(getattr(target, "__self__", None))
        return _check_size(super().call(__context, __obj, *args, **kwargs))

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in list(tree.find_all(nodes.For)):
            loop.iter = nodes.Filter(loop.iter, _LOOP_FILTER, [], [], None, None)
        for concat in list(tree.find_all(nodes.Concat)):
            _wrap_in_place(concat)
        return tree


def _wrap_in_place(concat: nodes.Concat) -> None:
    """Turn `a ~ b` into `(a ~ b) | bounded` without moving the node in its parent."""
    inner = nodes.Concat(concat.nodes, lineno=concat.lineno)
    bounded = nodes.Filter(inner, _SIZED_FILTER, [], [], None, None, lineno=concat.lineno)
    concat.nodes = [bounded]


ENVIRONMENT = DeclarationEnvironment()


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


def template_problems(source: str, known: Iterable[str] | None = None) -> list[str]:
    """Why a template cannot render, as one line (or none): a syntax error; an attribute
    the sandbox refuses (any name starting with an underscore); a variable no render
    provides (when `known` is given); or a sandbox limit broken whatever the data (a
    trial render with stand-in values)."""
    try:
        tree = ENVIRONMENT.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return [f"template syntax error on line {exc.lineno}: {exc.message}"]
    unsafe: list[str] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            attribute = node.attr
        else:
            assert isinstance(node, nodes.Getitem)
            attribute = _constant(node.arg)
        if isinstance(attribute, str) and attribute.startswith("_") and attribute not in unsafe:
            unsafe.append(attribute)
    if unsafe:
        names = ", ".join(f"'{name}'" for name in unsafe)
        return [f"template reads {names}, which the sandbox refuses"]
    if known is not None:
        provided = set(known) | set(ENVIRONMENT.globals)
        missing = sorted(jinja2.meta.find_undeclared_variables(tree) - provided)
        if missing:
            names = ", ".join(f"'{name}'" for name in missing)
            return [f"template uses undefined variable {names}"]
    try:
        compile_template(source)
    except jinja2.TemplateError as exc:
        return [f"template error: {exc}"]
    return _trial_render(source)


def _constant(node: nodes.Node) -> Any:
    return node.value if isinstance(node, nodes.Const) else None


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
        _BUDGET.iterations = 0
        pieces = template.root_render_func(context)
        size = 0
        out: list[str] = []
        for piece in pieces:
            size += len(piece)
            if size > MAX_OUTPUT:
                raise _too_big("output", size)
            out.append(piece)
        return "".join(out).strip()
    except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
        prefix = f"{where}: " if where else ""
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DebateInputError(f"{prefix}template error: {reason}") from exc


class _StandIn(jinja2.Undefined):
    """Every variable in a trial render: prints empty, iterates empty, any attribute."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self


def _trial_render(source: str) -> list[str]:
    """Render once with stand-in values: a template that breaks a sandbox limit whatever
    its data (a memory or loop bomb) is refused by `validate`, not at run time."""
    names = template_names(source)
    variables: dict[str, Any] = {**ENVIRONMENT.globals}
    variables.update({name: _StandIn(name=name) for name in names if name not in variables})
    try:
        render(source, variables)
    except DebateInputError as exc:
        if isinstance(exc.__cause__, SecurityError):
            return [str(exc).removeprefix("template error: ")]
    return []
