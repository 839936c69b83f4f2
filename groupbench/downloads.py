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


def sha256_file(path: str | Path, progress: bool | None = False) -> str:
    """SHA-256 of a file's bytes, read 1 MiB at a time; ``progress`` as `groupbench.progress.progress_bar`
    (the importers hash sources of up to 10.5 GB: minutes, so they show it)."""
    from groupbench.progress import progress_bar

    digest = hashlib.sha256()
    size = Path(path).stat().st_size
    with open(path, "rb") as handle, progress_bar(-(-size // (1 << 20)), f"sha256 {Path(path).name}", "MiB", show=progress) as bar:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            bar.update(1)
    return digest.hexdigest()
