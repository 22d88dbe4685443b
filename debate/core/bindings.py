"""Which model each role of a protocol uses: `--model`, `--model-base-url` and
`--model-arg` bindings resolved to shared model objects."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from debate.core.declarations import Bundle
from debate.errors import DebateInputError
from debate.models import Model, create_model


class ModelBindings:
    """Which model each role uses, from `--model [KEY=]MODEL` bindings.

    A key matches a role by its exact name, by the agent or judge it uses, or as a
    prefix (`debater` matches `debater_a`). More specific matches win. Models are
    created once per (model string, base URL, request fields) and shared between roles.

    `request_fields` (from `--model-arg [ROLE=]KEY=VALUE` or an experiment's
    `extra_body`) are extra JSON fields for every request of an `openai/` model: those
    under the key "" go to every `openai/` role, those under a role key are merged over
    them, and a role key bound to another backend is an error.
    """

    def __init__(
        self,
        bindings: dict[str, str],
        *,
        default: str = "local",
        base_urls: dict[str, str] | None = None,
        options: dict[str, Any] | None = None,
        wrap: Callable[[Model], Model] | None = None,
        backend_options: dict[str, dict[str, Any]] | None = None,
        request_fields: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.bindings = dict(bindings)
        self.default = self.bindings.pop("", default)
        self.base_urls = dict(base_urls or {})
        self.options = dict(options or {})
        self.wrap = wrap
        # options only one backend takes, by model-string prefix (e.g. the human page's port)
        self.backend_options = dict(backend_options or {})
        self.request_fields = {key: dict(value) for key, value in (request_fields or {}).items()}
        self._models: dict[tuple[str | None, ...], Model] = {}

    def _lookup(self, table: dict[str, Any], role: str, declared: str) -> Any:
        for key in (role, declared):
            if key in table:
                return table[key]
        prefixes = [key for key in table if key and role.startswith(key + "_")]
        if prefixes:
            return table[max(prefixes, key=len)]
        return None

    def model_string(self, role: str, declared: str) -> str:
        return self._lookup(self.bindings, role, declared) or self.default

    def fields_for(self, role: str, declared: str, name: str | None = None) -> dict[str, Any]:
        """The extra request fields of a role's model (or of `name`, a panel member's
        model on that role); {} for none."""
        name = name or self.model_string(role, declared)
        own = self._lookup(self.request_fields, role, declared)
        if not name.startswith("openai/"):
            if own:
                raise DebateInputError(
                    f"--model-arg: role '{role}' uses {name}; request fields go to openai/ "
                    "models only"
                )
            return {}
        return merge_fields(self.request_fields.get("", {}), own or {})

    def model_for(self, role: str, declared: str) -> Model:
        return self.model_named(self.model_string(role, declared), role, declared)

    def model_named(self, name: str, role: str, declared: str) -> Model:
        """The model `name` on the role's server (a panel member names its own model)."""
        base_url = self._lookup(self.base_urls, role, declared) or self.base_urls.get("")
        fields = self.fields_for(role, declared, name)
        key: tuple[str | None, ...] = (name, base_url)
        if fields:
            key += (json.dumps(fields, sort_keys=True, default=str),)
        if key not in self._models:
            options = {**self.options, **self.backend_options.get(name.partition("/")[0], {})}
            if base_url:
                options["base_url"] = base_url
            if fields:
                options["extra_body"] = fields
            model = create_model(name, **options)
            # a person's answers are never served from the call cache
            cacheable = self.wrap and not getattr(model, "answers_choices", False)
            self._models[key] = self.wrap(model) if cacheable and self.wrap else model
        return self._models[key]

    def check(self, bundle: Bundle) -> None:
        """Fail early (one line) on a binding key that matches no role."""
        for key in [*self.bindings, *self.base_urls, *self.request_fields]:
            if not key:
                continue
            matched = any(
                key == role or key in (spec.agent, spec.judge) or role.startswith(key + "_")
                for role, spec in bundle.protocol.roles.items()
            )
            if not matched:
                roles = ", ".join(bundle.protocol.roles)
                raise DebateInputError(
                    f"--model: '{key}' matches no role of this protocol ({roles})"
                )

    @property
    def models(self) -> list[Model]:
        return list(self._models.values())

    async def aclose(self) -> None:
        for model in self._models.values():
            await model.aclose()


def merge_fields(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`, merging nested dicts (e.g. two `chat_template_kwargs`)."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_fields(merged[key], value)
        else:
            merged[key] = value
    return merged
