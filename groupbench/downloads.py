"""What the downloaders (``groupbench fetch mnist``, ``groupbench fetch deepmind``) share: the
cache folder they write to by default, creating the target folder, and file checksums."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from groupbench.errors import GroupbenchError


def cache_dir(kind: str) -> Path:
    """Default folder of downloaded ``kind`` files: ``$XDG_CACHE_HOME/groupbench/<kind>`` (~/.cache without it)."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "groupbench" / kind


def target_folder(out: str | Path | None, kind: str) -> Path:
    """``out`` (or `cache_dir` of ``kind``), created if needed; one clear error if it cannot be."""
    folder = Path(out).expanduser() if out is not None else cache_dir(kind)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GroupbenchError(f"cannot create {folder}: {exc.strerror or exc}") from None
    return folder


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read 1 MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
