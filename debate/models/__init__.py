"""Model backends behind one interface, chosen by a model string.

| string | backend |
|---|---|
| `scripted`, `scripted/<name>` | deterministic test and demo model (`scripted.py`) |
| `local` | the embedded SmolLM2-135M-Instruct (`local.py`, needs the `local` extra) |
| `hf/<path>` | any transformers checkpoint on disk (`local.py`) |
| `openai/<model>` | any OpenAI-compatible server (`openai.py`) |
| `human`, `human/<annotator>` | a person, through a page on 127.0.0.1 (`human.py`) |
| `MODEL?key=value,...` | any of these with its own stop strings and penalties (`settings.py`) |

Backends are imported lazily, so `import debate` never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from debate.errors import DebateInputError
from debate.models.base import (
    ChatMessage,
    Completion,
    DeltaCallback,
    GenerateConfig,
    Model,
    ModelError,
    Usage,
    request_tag,
)

__all__ = [
    "ChatMessage",
    "Completion",
    "DeltaCallback",
    "GenerateConfig",
    "Model",
    "ModelError",
    "Usage",
    "create_model",
    "request_tag",
    "register_backend",
]

# prefix -> "module:factory". A factory takes (rest_of_string, **options) -> Model.
_BACKENDS: dict[str, str] = {
    "scripted": "debate.models.scripted:create",
    "local": "debate.models.local:create",
    "hf": "debate.models.local:create",
    "openai": "debate.models.openai:create",
    "human": "debate.models.human:create",
}


def register_backend(prefix: str, target: str) -> None:
    """Register a backend factory as "module:function" under a model-string prefix."""
    _BACKENDS[prefix] = target


def create_model(spec: str, **options: Any) -> Model:
    """Build the model a string names, e.g. `local`, `hf/./ckpt`, `openai/gpt-4o-mini`;
    `MODEL?key=value,...` adds generation controls (`debate.models.settings`)."""
    if "?" in spec:
        from debate.models.settings import ControlledModel, split_model_string

        base, controls = split_model_string(spec)
        inner = create_model(base, **options)
        return ControlledModel(inner, controls, spec) if controls else inner
    prefix, _, rest = spec.partition("/")
    target = _BACKENDS.get(prefix)
    if target is None:
        known = ", ".join(sorted(_BACKENDS))
        raise DebateInputError(f"--model: unknown model '{spec}' (known prefixes: {known})")
    module_name, _, factory_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = "local" if prefix in ("local", "hf") else prefix
        raise DebateInputError(
            f"--model: '{spec}' needs an optional dependency ({exc.name}); "
            f"install it with: pip install 'debate-lab[{extra}]'"
        ) from exc
    factory = getattr(module, factory_name)
    model: Model = factory(rest, **options)
    return model
