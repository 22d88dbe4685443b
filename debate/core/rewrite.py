"""The `rewrite` step: a role speaks, then a helper role rewrites the turn.

A role takes its turn as `speak` would, then a helper role rewrites it and returns
tagged fields (`<fallacy>`, `<argument>`, `<response>`, ...). Only the `deliver` field
reaches the other roles; the draft and the helper's raw output stay in the transcript
hidden from every role, and the other fields ride in the delivered message's `meta`.
Output without the required fields is retried, then recorded as invalid; the draft is
delivered instead (`on_failure: draft`) or the unit stops (`on_failure: stop`). The
helper can depend on a variant (`by: {fallacy: helper_f}`); the values in `plain`
(default `none`) deliver the raw turn, and any other value is an input error.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from debate.core.context import UnitContext
from debate.core.declarations import AgentSpec, ProtocolSpec
from debate.core.moderation import roles_of_kind
from debate.core.registry import register_step
from debate.core.speeches import limit_words
from debate.core.steps import Speak, Step
from debate.errors import DebateInputError
from debate.models.base import ChatMessage

DEFAULT_REWRITE_RETRY = (
    "Your reply could not be read. Write it again with every one of these tags filled in: {tags}."
)


class Helper(BaseModel):
    """A helper role and the tagged fields its output must contain."""

    model_config = ConfigDict(extra="forbid")

    role: str
    fields: list[str] = Field(default_factory=lambda: ["response"], min_length=1)


def parse_fields(text: str, names: list[str]) -> dict[str, str]:
    """Non-empty `<name>...</name>` tags (the last tag may be left open), else a JSON
    object with those keys; only the requested names are returned."""
    found: dict[str, str] = {}
    for name in names:
        tag = re.escape(name)
        match = re.search(rf"(?is)<{tag}>(.*?)(?:</{tag}>|(?=<\w+>)|$)", text)
        if match and match.group(1).strip():
            found[name] = match.group(1).strip()
    if len(found) < len(names):
        start, end = text.find("{"), text.rfind("}")
        if 0 <= start < end:
            try:
                data = json.loads(text[start : end + 1])
            except json.JSONDecodeError:
                data = None
            if isinstance(data, dict):
                lowered = {str(k).lower(): v for k, v in data.items()}
                for name in names:
                    value = lowered.get(name.lower())
                    if name not in found and isinstance(value, str) and value.strip():
                        found[name] = value.strip()
    return found


@register_step
class Rewrite(Step):
    """A role speaks; a helper rewrites the turn; only the `deliver` field is shown."""

    key: ClassVar[str] = "rewrite"
    rewrite: str
    by: Helper | str | dict[str, Helper | str]
    variant: str = "condition"
    plain: list[str] = Field(default_factory=lambda: ["none"])
    instruction: str | None = Field(default=None, description="speaking role's template")
    template: str | None = Field(default=None, description="helper's template")
    deliver: str = "response"
    retries: int = Field(default=2, ge=0)
    retry_instruction: str = DEFAULT_REWRITE_RETRY
    on_failure: Literal["draft", "stop"] = "draft"

    def helpers(self) -> dict[str | None, Helper]:
        """Helper per variant value (key None: the same helper whatever the variant)."""

        def norm(value: Helper | str) -> Helper:
            return Helper(role=value, fields=[self.deliver]) if isinstance(value, str) else value

        if isinstance(self.by, dict):
            return {key: norm(value) for key, value in self.by.items()}
        return {None: norm(self.by)}

    def check(self, protocol: ProtocolSpec) -> list[tuple[str, str]]:
        problems = roles_of_kind("rewrite", [self.rewrite], protocol, judge=False)
        for key, helper in self.helpers().items():
            field = "by" if key is None else f"by.{key}"
            problems += roles_of_kind(field, [helper.role], protocol, judge=False)
            if self.deliver not in helper.fields:
                problems.append((field, f"fields must include '{self.deliver}' (deliver)"))
        return problems

    def helper_for(self, ctx: UnitContext) -> Helper | None:
        """The helper for this unit's variant; None for a `plain` value (no rewrite)."""
        helpers = self.helpers()
        if None in helpers:
            return helpers[None]
        value = ctx.variant.get(self.variant)
        if value in self.plain:
            return None
        if value not in helpers:
            known = ", ".join([*self.plain, *(str(k) for k in helpers)])
            raise DebateInputError(
                f"{ctx.bundle.source}: rewrite: {self.variant} '{value}' is not one of: {known}"
                if value is not None
                else f"{ctx.bundle.source}: rewrite: no '{self.variant}' variant set ({known})"
            )
        return helpers[value]

    def template_variables(self) -> frozenset[str]:
        return frozenset({"draft", "speaker"})

    async def run(self, ctx: UnitContext) -> None:
        role = self.rewrite
        helper = self.helper_for(ctx)
        speak = Speak(speak=[role], instruction=self.instruction)
        instruction, chat = speak.prepare(ctx, role)
        text, meta, tokens = await speak.generate(ctx, role, instruction, chat)
        if helper is None:
            ctx.add_message(
                role, text, meta={**meta, "instruction": instruction}, completion_tokens=tokens
            )
            return
        draft = ctx.add_message(
            role, text, kind="draft", visible_to=[], meta=meta, completion_tokens=tokens
        )
        fields, raws = await self.ask_helper(ctx, helper, text)
        ctx.add_message(
            helper.role,
            raws[-1],
            kind="rewrite",
            visible_to=[],
            meta={
                "fields": fields,
                "valid": fields is not None,
                "attempts": len(raws),
                **({"raw": raws} if len(raws) > 1 else {}),
            },
            check_quotes_in_text=False,
        )
        shown: dict[str, Any] = {"instruction": instruction, "draft_index": draft.index}
        if fields is None:
            ctx.state["rewrite_failures"] = ctx.state.get("rewrite_failures", 0) + 1
            if self.on_failure == "stop":
                ctx.stop("rewrite_failed")
                return
            delivered = text
            shown["rewrite_failed"] = True
        else:
            delivered, _ = limit_words(fields[self.deliver], ctx.word_limit(role))
            shown.update({k: v for k, v in fields.items() if k != self.deliver})
            shown["rewritten_by"] = helper.role
        ctx.add_message(role, delivered, meta=shown)

    async def ask_helper(
        self, ctx: UnitContext, helper: Helper, draft: str
    ) -> tuple[dict[str, str] | None, list[str]]:
        spec = ctx.roles[helper.role].spec
        assert isinstance(spec, AgentSpec)
        source = spec.templates.get(self.template, "") if self.template else spec.instruction
        if not source:
            raise DebateInputError(
                f"{ctx.bundle.source}: rewrite: agent '{spec.name}' has no template "
                f"'{self.template}'"
            )
        extra = {"draft": draft, "speaker": ctx.roles[self.rewrite].speaker}
        chat = ctx.view(helper.role, ctx.render(helper.role, source, extra))
        config = ctx.agent_config(helper.role, spec)
        retry = self.retry_instruction.format(tags=", ".join(f"<{f}>" for f in helper.fields))
        raws: list[str] = []
        for _ in range(self.retries + 1):
            completion = await ctx.complete(helper.role, chat, config, kind="rewrite")
            raws.append(completion.text)
            fields = parse_fields(completion.text, helper.fields)
            if len(fields) == len(helper.fields):
                return fields, raws
            chat = [
                *chat,
                ChatMessage(role="assistant", content=completion.text or "(no reply)"),
                ChatMessage(role="user", content=retry),
            ]
            config = replace(config, seed=ctx.next_seed())
        return None, raws
