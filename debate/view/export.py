"""`debate view --export FILE`: the viewer as one self-contained HTML file.

The page's style, its script and every run's data (plots as data: URIs) go inline, and
a content security policy in the file forbids every network request, so the file reads
the same offline, mailed, or attached to a paper. The data sits in a JSON script block
with `<`, `>` and `&` escaped, so no transcript text can close the block or open a tag.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from debate.view.data import Annotator, inline_plot, load_runs
from debate.view.server import asset

OFFLINE_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)


def embedded_json(payload: Any) -> str:
    """JSON that is safe inside a <script type="application/json"> block."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(raw, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def export_html(runs: Sequence[Path], annotators: Sequence[Annotator] = ()) -> str:
    payload = load_runs(
        runs,
        plot_src=lambda index, relative: inline_plot(runs[index] / relative),
        annotators=annotators,
    )
    page = asset("index.html")
    head, _, rest = page.partition('<link rel="stylesheet" href="static/viewer.css">')
    body, _, tail = rest.partition('<script src="static/viewer.js"></script>')
    policy = f'<meta http-equiv="Content-Security-Policy" content="{OFFLINE_POLICY}">'
    script = asset("viewer.js")
    if "</script" in script.lower():  # our own script never holds this; keep it so
        raise RuntimeError("viewer.js must not contain '</script'")
    return "".join(
        [
            head,
            policy,
            f"<style>{asset('viewer.css')}</style>",
            body,
            f'<script type="application/json" id="debate-data">{embedded_json(payload)}</script>',
            f"<script>{script}</script>",
            tail,
        ]
    )


def write_export(path: Path, runs: Sequence[Path], annotators: Sequence[Annotator] = ()) -> int:
    """Write the file atomically; returns its size in bytes."""
    text = export_html(runs, annotators)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, "utf-8")
    os.replace(temporary, path)
    return len(text.encode("utf-8"))
