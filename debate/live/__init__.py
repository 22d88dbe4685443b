"""Watching debates: the terminal live view, replay and following a running run.

- `state`: what the view knows, built from engine events;
- `render`: drawing one frame with rich;
- `view`: `make_view` — the rich live view or plain lines — as an engine subscriber;
- `watch`: replaying a run's records as events, following `live.jsonl`;
- `printer`: the transcript `debate run --show` prints (panels, checked quotes, verdicts);
- `commands`: `watch`.

Docs: docs/live.md.
"""

from debate.core.registry import Feature
from debate.live.commands import commands

FEATURE = Feature(name="live", docs="docs/live.md", commands=commands)
