"""What an `openai/<model>` request holds, and how its reply becomes a `Completion`.

A request is the chat, the sampling settings the server accepts, `logprobs` with
`top_logprobs` when choice labels are asked for, a prefilled assistant turn
(`continue_final_message`) when the backend decided to prefill, and the model's
`extra_body` fields last, so a user can override any of ours except the model, the
messages and streaming. Only vLLM and SGLang are known to continue a prefilled turn;
they are recognised by the `owned_by` their `GET /models` answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from debate.errors import DebateInputError
from debate.models.base import ChatMessage, Completion, GenerateConfig, Usage
from debate.models.label_reading import TokenPosition, read_labels

PREFILL_SERVERS = frozenset({"vllm", "sglang"})
# request fields the SDK's `create` takes by name; anything else goes in its `extra_body`
SDK_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "seed",
        "stop",
        "frequency_penalty",
        "presence_penalty",
        "logprobs",
        "top_logprobs",
        "stream",
        "stream_options",
    }
)
OWN_FIELDS = frozenset({"model", "messages", "stream", "stream_options"})


def checked_extra_body(name: str, fields: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of `fields`, refusing those the backend must own."""
    chosen = dict(fields or {})
    owned = sorted(OWN_FIELDS & set(chosen))
    if owned:
        raise DebateInputError(
            f"--model-arg {name}: {', '.join(owned)} cannot be set as a request field"
        )
    return chosen


def build_request(
    model: str,
    messages: Sequence[ChatMessage],
    config: GenerateConfig,
    *,
    prefill: str,
    max_tokens_field: str,
    send_sampling: bool,
    top_logprobs: int | None,
    extra_body: dict[str, Any],
) -> dict[str, Any]:
    """The JSON body of a chat-completions request (`top_logprobs` None: no logprobs)."""
    chat = [{"role": m.role, "content": m.content} for m in messages]
    request: dict[str, Any] = {"model": model, "messages": chat}
    if prefill:
        chat.append({"role": "assistant", "content": prefill})
        request["continue_final_message"] = True
        request["add_generation_prompt"] = False
    request[max_tokens_field] = config.max_tokens
    if send_sampling:
        request["temperature"] = config.temperature
        request["top_p"] = config.top_p
    if config.seed is not None:
        request["seed"] = config.seed
    if config.stop:
        request["stop"] = list(config.stop)
    if config.frequency_penalty is not None:
        request["frequency_penalty"] = config.frequency_penalty
    if config.presence_penalty is not None:
        request["presence_penalty"] = config.presence_penalty
    if config.choices and top_logprobs is not None:
        request["logprobs"] = True
        request["top_logprobs"] = top_logprobs
    request.update(extra_body)
    return request


def split_for_sdk(request: dict[str, Any]) -> dict[str, Any]:
    """Move the fields the SDK's `create` does not name out of `request`; return them."""
    return {key: request.pop(key) for key in list(request) if key not in SDK_FIELDS}


def completion_from(
    name: str,
    text: str,
    positions: list[TokenPosition],
    config: GenerateConfig,
    usage: Usage,
    *,
    prefill: str,
    logprobs_sent: bool,
) -> Completion:
    """The reply as a `Completion`, with the labels read where the label is produced."""
    completion = Completion(text=text, model=name, usage=usage, prefill=prefill)
    if not config.choices:
        return completion
    if not logprobs_sent:
        completion.label_note = "the server does not accept logprobs requests"
        return completion
    reading = read_labels(positions, config.choices, config.answer_prefix, prefill)
    completion.choice_logprobs = reading.logprobs
    completion.label_mass = reading.mass
    completion.label_position = reading.position
    completion.label_note = reading.note
    return completion
