"""Generation controls that travel with a model string, and their validation.

`MODEL?key=value,key=value` binds a model with its own generation controls, wherever a
model string goes (`--model debater=local?repetition_penalty=1.2`, a bench experiment's
`debaters:`, a reward server's `--judge`):

| key | meaning |
|---|---|
| `stop` | a stop string (repeatable; `\\n` and `\\t` are read as escapes) |
| `repetition_penalty` | > 0; above 1 discourages tokens the reply already holds |
| `no_repeat_ngram_size` | an n-gram of the reply may not occur twice in it |
| `frequency_penalty`, `presence_penalty` | -2..2: minus this per earlier use / once used |
| `no_copy_ngram_size` | the reply may not copy an n-gram of earlier turns (not the system) |

Penalties count the reply's own tokens only, never the prompt's; n-gram sizes are in
tokens.
The model's controls override those the agent declares (stop strings are added to the
agent's). The `local` and `hf/` backends apply all of them; OpenAI-compatible servers
receive `stop`, `frequency_penalty` and `presence_penalty` (the others are not part of
that API and are not sent). `GenerationControls` is also the part of an agent
declaration that holds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from debate.errors import DebateInputError
from debate.models.base import (
    GENERATION_CONTROLS,
    ChatMessage,
    Completion,
    DeltaCallback,
    GenerateConfig,
    Model,
)

MAX_STOP_CHARS = 200


class GenerationControls(BaseModel):
    """Stop strings and repetition controls (None: the backend's default)."""

    model_config = ConfigDict(extra="forbid")

    stop: list[Annotated[str, Field(min_length=1, max_length=MAX_STOP_CHARS)]] = Field(
        default_factory=list, max_length=8
    )
    repetition_penalty: float | None = Field(default=None, gt=0, le=10)
    no_repeat_ngram_size: int | None = Field(default=None, ge=1, le=64)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    no_copy_ngram_size: int | None = Field(default=None, ge=2, le=64)

    def controls(self) -> dict[str, Any]:
        """The repetition controls that are set."""
        return {
            name: getattr(self, name)
            for name in GENERATION_CONTROLS
            if getattr(self, name) is not None
        }

    def apply(self, config: GenerateConfig, override: bool = True) -> GenerateConfig:
        """`config` with these stop strings added and these controls set (only where the
        config leaves them unset when `override` is False)."""
        changes: dict[str, Any] = {
            name: value
            for name, value in self.controls().items()
            if override or getattr(config, name) is None
        }
        if self.stop:
            changes["stop"] = tuple(dict.fromkeys([*config.stop, *self.stop]))
        return replace(config, **changes) if changes else config


def _unescape(value: str) -> str:
    return value.replace("\\n", "\n").replace("\\t", "\t")


def split_model_string(spec: str) -> tuple[str, GenerationControls | None]:
    """`local?repetition_penalty=1.2,stop=\\n\\n` -> ("local", controls); no `?`: None."""
    base, mark, query = spec.partition("?")
    if not mark:
        return spec, None
    fields: dict[str, Any] = {"stop": []}
    for item in query.split(","):
        if not item.strip():
            continue
        key, equals, value = item.partition("=")
        key = key.strip()
        if not equals:
            raise DebateInputError(f"--model: '{spec}': '{item}' is not key=value")
        if key == "stop":
            if not value or len(value) > MAX_STOP_CHARS:
                raise DebateInputError(
                    f"--model: '{spec}': stop strings must have 1 to {MAX_STOP_CHARS} characters"
                )
            fields["stop"].append(_unescape(value))
        else:
            fields[key] = value.strip()
    try:
        return base, GenerationControls.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        message = str(first["msg"]).replace("Extra inputs are not permitted", "unknown setting")
        raise DebateInputError(f"--model: '{spec}': {where}: {message}") from None


class ControlledModel:
    """A model whose requests carry the generation controls of its model string."""

    def __init__(self, inner: Model, controls: GenerationControls, name: str) -> None:
        self.inner = inner
        self.controls = controls
        self.name = name

    @property
    def generation_defaults(self) -> dict[str, Any]:
        defaults: dict[str, Any] = getattr(self.inner, "generation_defaults", {})
        return defaults

    @property
    def calibrate_verdicts(self) -> bool:
        return bool(getattr(self.inner, "calibrate_verdicts", False))

    async def generate(
        self,
        messages: Sequence[ChatMessage],
        config: GenerateConfig,
        on_delta: DeltaCallback | None = None,
    ) -> Completion:
        return await self.inner.generate(messages, self.controls.apply(config), on_delta)

    async def aclose(self) -> None:
        await self.inner.aclose()
