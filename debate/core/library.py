"""Resolve declaration names to files: the user's folders first, then the built-ins.

Declarations live in four kinds of folder: agents/, judges/, protocols/, scenarios/.
A name such as `debate` resolves to `./protocols/debate.yaml` if the user has one,
otherwise to the copy shipped inside the package. A path to an existing file is used
as it is.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from debate.core.files import check_regular, load_yaml
from debate.errors import DebateInputError

KINDS = ("agents", "judges", "protocols", "scenarios")
_SUFFIXES = (".yaml", ".yml")
_REPO_ROOT = Path(__file__).resolve().parents[2]


def builtin_dir(kind: str) -> Path:
    """The folder holding the built-in declarations of one kind."""
    try:
        located = Path(str(resources.files(f"debate.library.{kind}")))
        if located.is_dir():
            return located
    except (ModuleNotFoundError, TypeError):
        pass
    return _REPO_ROOT / kind


def search_dirs(kind: str) -> list[Path]:
    user = Path.cwd() / kind
    builtin = builtin_dir(kind)
    dirs = [user] if user.is_dir() and user.resolve() != builtin.resolve() else []
    return [*dirs, builtin]


def looks_like_path(name: str) -> bool:
    return name.endswith(_SUFFIXES) or "/" in name or "\\" in name


def resolve(kind: str, name: str) -> Path:
    """The file for `name` of this kind, or a DebateInputError naming what was tried."""
    if kind not in KINDS:
        raise ValueError(f"unknown declaration kind {kind!r}")
    candidate = Path(name).expanduser()
    if looks_like_path(name):
        if candidate.is_file():
            return candidate
        if candidate.exists():
            check_regular(candidate, name)  # a folder or a FIFO: say which
        raise DebateInputError(f"{name}: no such file")
    for folder in search_dirs(kind):
        for suffix in _SUFFIXES:
            path = folder / f"{name}{suffix}"
            if path.is_file():
                return path
    known = ", ".join(sorted(entry.name for entry in available(kind))) or "none"
    singular = kind.rstrip("s")
    raise DebateInputError(f"unknown {singular} '{name}' (available: {known})")


class Entry:
    """One available declaration: its name, description and file."""

    def __init__(self, name: str, description: str, path: Path) -> None:
        self.name = name
        self.description = description
        self.path = path


def _description(path: Path) -> str:
    try:
        data = load_yaml(path)
    except DebateInputError:
        return "(unreadable)"
    if isinstance(data, dict):
        return str(data.get("description", "")).strip()
    return ""


def available(kind: str) -> list[Entry]:
    """Every declaration of this kind, user files shadowing built-ins of the same name."""
    seen: dict[str, Entry] = {}
    for folder in search_dirs(kind):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix in _SUFFIXES and path.stem not in seen:
                seen[path.stem] = Entry(path.stem, _description(path), path)
    return sorted(seen.values(), key=lambda entry: entry.name)
