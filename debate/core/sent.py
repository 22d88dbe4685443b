"""What each model was sent, kept in a unit's record compactly, so a verdict can be audited.

A record's `prompts` holds `parts`, the distinct paragraphs (text between blank lines)
of every stored call, and `calls`, one entry per stored call: the calling role, the kind
of call, the round and its `messages` as `[chat role, [part numbers]]`. A message's
text is its parts joined by a blank line, exactly as sent (`messages_of` rebuilds
them). Paragraphs repeat a lot (a judge sees the same system prompt and the same
earlier turns at every verdict), so each is stored once per record. Each verdict's
`shown` lists the calls (usually one; more after retries) whose messages its judge read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from debate.models.base import ChatMessage

SEPARATOR = "\n\n"


def compact_calls(
    sent: Sequence[tuple[str, str, int, list[ChatMessage]]],
) -> dict[str, Any]:
    """The `prompts` field of a record: distinct parts and the calls that use them."""
    numbers: dict[str, int] = {}
    calls: list[dict[str, Any]] = []
    for role, kind, round_number, chat in sent:
        messages = []
        for message in chat:
            ids = [
                numbers.setdefault(part, len(numbers)) for part in message.content.split(SEPARATOR)
            ]
            messages.append([message.role, ids])
        calls.append({"role": role, "kind": kind, "round": round_number, "messages": messages})
    return {"parts": list(numbers), "calls": calls}


def link_verdicts(
    verdicts: list[dict[str, Any]],
    positions: Sequence[int],
    sent: Sequence[tuple[str, str, int, list[ChatMessage]]],
) -> None:
    """Set each verdict's `shown`: the verdict calls its judge made since the last verdict."""
    previous = 0
    for verdict, position in zip(verdicts, positions, strict=True):
        verdict["shown"] = [
            index
            for index in range(previous, position)
            if sent[index][1] == "verdict" and sent[index][0] == verdict["role"]
        ]
        previous = position


def messages_of(prompts: dict[str, Any], call: int) -> list[dict[str, str]]:
    """The exact chat messages of one stored call, as `{"role", "content"}` dicts."""
    parts = prompts["parts"]
    return [
        {"role": role, "content": SEPARATOR.join(parts[i] for i in ids)}
        for role, ids in prompts["calls"][call]["messages"]
    ]
