"""Labels as trainers send them: the gold answer, the alternative, or an object of fields.

OpenRLHF sends each dataset row's `--data.label_key` value; verl passes the row's
`reward_model.ground_truth`. Either may be a plain string, a list of strings, an
object, or (verl, from parquet) a NumPy array or an object holding arrays.
`parse_label` turns any of these into `RewardItem` fields; a list never becomes the
text of an array.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

LABEL_KINDS = ("alternative", "gold")
LABEL_FIELDS = ("gold", "alternative", "incorrect", "question", "story")


class BadRequest(ValueError):
    """A request (or label) refused, with the reason."""


def plain(value: Any) -> Any:
    """`value` with NumPy arrays and scalars, and tuples, turned into lists and Python scalars."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    tolist = getattr(value, "tolist", None)  # numpy.ndarray and numpy scalars
    if callable(tolist) and not isinstance(value, str | bytes):
        return plain(tolist())
    return value


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return [str(v) for v in value]
    raise BadRequest(f"{where}: expected a string or a list of strings")


def parse_label(label: Any, label_kind: str, where: str) -> dict[str, Any]:
    """A label as `RewardItem` fields.

    A string (or a number) is the alternative or the gold answer (per `label_kind`),
    unless it is the JSON text of an object; a list is the gold answers; an object may
    have any of `gold` (string or list), `alternative`, `incorrect`, `question`, `story`.
    """
    label = plain(label)
    if label is None or label == "":
        return {}
    if isinstance(label, int | float) and not isinstance(label, bool):
        label = str(label)
    if isinstance(label, str):
        if label.lstrip().startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                label = json.loads(label)
        if isinstance(label, str):
            return {"gold": [label]} if label_kind == "gold" else {"alternative": label}
    if isinstance(label, list):
        return {"gold": _strings(label, where)}
    if not isinstance(label, dict):
        raise BadRequest(f"{where}: expected a string, a list of strings or an object")
    unknown = sorted(set(label) - set(LABEL_FIELDS))
    if unknown:
        raise BadRequest(f"{where}: unknown key '{unknown[0]}'")
    fields: dict[str, Any] = {
        "gold": _strings(label.get("gold"), f"{where}.gold"),
        "incorrect": _strings(label.get("incorrect"), f"{where}.incorrect"),
    }
    for key in ("alternative", "question", "story"):
        value = label.get(key)
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"{where}.{key}: expected a string")
        if value is not None:
            fields[key] = value
    return fields
