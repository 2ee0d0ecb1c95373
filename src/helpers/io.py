"""Where the suite keeps files, and how it writes and checks them.

Writes are atomic (never half-written). Cached files carry a sha256 that is checked when they are
read; a cache entry that fails its check is thrown away with one warning line
(:func:`discard`) and made again, never used and never an error on every later run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from helpers.errors import CacheError

CACHE_ENV = "NEURON_REPRO_CACHE"

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """The user cache directory: ``$NEURON_REPRO_CACHE``, else ``$XDG_CACHE_HOME/neuron-repro``,
    else ``~/.cache/neuron-repro``."""
    if os.environ.get(CACHE_ENV):
        return usable_dir(Path(os.environ[CACHE_ENV]).expanduser(), CACHE_ENV)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return usable_dir(Path(xdg) / "neuron-repro", "XDG_CACHE_HOME")


def usable_dir(root: Path, env: str) -> Path:
    """``root``, created if missing; :class:`CacheError` naming ``env`` if it is a file or cannot
    be created."""
    if root.exists() and not root.is_dir():
        raise CacheError(f"the cache folder {str(root)!r} is a file, not a folder; point {env} at a folder "
                         "(it is created if missing), or unset it to use ~/.cache/neuron-repro")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError(f"cannot create the cache folder {str(root)!r} ({exc.strerror}); point {env} at a "
                         "folder you can write to") from exc
    if not os.access(root, os.W_OK | os.X_OK):
        raise CacheError(f"the cache folder {str(root)!r} is not writable; point {env} at a folder you can "
                         "write to")
    return root


def write_problem(folder: Path) -> OSError | None:
    """Why ``folder`` cannot be written (None if it can): it is created if missing and a probe file is
    made and removed in it (a permission bit alone does not say: root writes anyway)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return exc
    return None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    An interrupted or failing writer leaves the old file (or no file), never a partial one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)  # mkstemp makes files owner-only; results are meant to be shared
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n")
    return Path(path)


def read_json(path: str | os.PathLike) -> Any | None:
    """The JSON in ``path``; ``None`` if it is missing or unreadable (never an exception)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _json_default(obj: Any) -> Any:
    # numpy / torch scalars and arrays
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


# ---------------------------------------------------------------------------------------------
# Checksums


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """sha256 (hex) of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def manifest(folder: Path, names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """{file name: {"size", "sha256"}} of the files ``names`` (default: every file) in ``folder``."""
    names = sorted(p.name for p in folder.iterdir() if p.is_file()) if names is None else names
    return {name: {"size": (folder / name).stat().st_size, "sha256": sha256_file(folder / name)} for name in names}


def manifest_problem(folder: Path, recorded: Any) -> str | None:
    """Why the files of ``folder`` do not match ``recorded`` (a :func:`manifest`); ``None`` if they do."""
    if not isinstance(recorded, dict) or not recorded:
        return "no checksums recorded"
    for name, entry in recorded.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if not isinstance(entry, dict) or path.stat().st_size != entry.get("size"):
            return f"{name} has {path.stat().st_size} bytes, {entry.get('size') if isinstance(entry, dict) else '?'} expected"
        if sha256_file(path) != entry.get("sha256"):
            return f"{name} does not match its sha256"
    return None


def discard(path: Path, problem: str, what: str = "cache entry") -> None:
    """Remove a corrupt cache file or folder, with one warning line saying what and why."""
    log.warning("%s %s is corrupt (%s): removed, computing it again", what, path, problem)
    if path.is_dir() and not path.is_symlink():
        # rename first: a half-deleted folder must never look like an entry
        aside = path.with_name(f".{path.name}.corrupt-{os.getpid()}")
        try:
            os.replace(path, aside)
        except OSError:
            aside = path
        shutil.rmtree(aside, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


_IDENTITY: dict[tuple[str, int, int], str] = {}


def content_identity(value: Any) -> Any:
    """``value``, with every string that names an existing file replaced by ``"<path>@sha256:<16 hex>"``
    of its content (lists too), so that a cache key or run stamp changes when the file is edited."""
    if isinstance(value, (list, tuple)):
        return [content_identity(v) for v in value]
    if not isinstance(value, str) or not value or "\n" in value:
        return value
    try:
        path = Path(value).expanduser()
        if not path.is_file():
            return value
        stat = path.stat()
    except (OSError, ValueError):
        return value
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo not in _IDENTITY:
        _IDENTITY[memo] = sha256_file(path)[:16]
    return f"{value}@sha256:{_IDENTITY[memo]}"
