"""The web viewer: browse run directories in a browser, or export them as one HTML file.

- `data`: what a page shows of run directories (records, failures, summary, plots),
  with each feature's `annotate` facts;
- `server`: the aiohttp server (loopback by default; a token off loopback);
- `export`: the self-contained HTML file (`--export`);
- `static/`: the page itself, plain HTML, CSS and JavaScript (no build step);
- `commands`: `view`.

Docs: docs/view.md.
"""

from debate.core.registry import Feature
from debate.view.commands import commands

FEATURE = Feature(name="view", docs="docs/view.md", commands=commands)
