"""Progress of long work: a tqdm bar on a terminal, plain log lines (count, rate, ETA) otherwise.

Every command that may run for more than a few seconds reports through `progress_bar`, so that a
run whose output goes to a log file says how far it got and when it will end::

    with progress_bar(total, "generate shapes-v1", unit="img", show=progress) as bar:
        for block in blocks:
            ...
            bar.update(len(block))
            bar.write("a message that must not break the bar")
"""

from __future__ import annotations

import sys
import time
from typing import Any

from tqdm.auto import tqdm

LOG_INTERVAL_S = 30.0
"""Seconds between two progress lines when stderr is not a terminal."""


def _duration(seconds: float) -> str:
    """``37s``, ``4m12s``, ``2h05m``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class LogProgress:
    """A progress report in plain lines on stderr, at most one every ``interval`` seconds.

    ``desc: 12,000/80,000 img (15%), 1,230 img/s, ETA 47s``; when at least one such line was
    written, a last one says how long the whole took. Short work stays silent.
    """

    def __init__(self, total: int | None, desc: str, unit: str, interval: float):
        self.total, self.desc, self.unit, self.interval = total, desc, unit, interval
        self.n = 0
        self.started = self.last = time.monotonic()
        self.lines = 0
        self.closed = False

    def _rate(self, now: float) -> float:
        return self.n / max(now - self.started, 1e-9)

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            rate = self._rate(now)
            done = f"{self.n:,} {self.unit}"
            if self.total:
                eta = f", ETA {_duration((self.total - self.n) / rate)}" if rate > 0 else ""
                done = f"{self.n:,}/{self.total:,} {self.unit} ({100 * self.n // self.total}%)"
            else:
                eta = ""
            self.write(f"{self.desc}: {done}, {rate:,.0f} {self.unit}/s{eta}")
            self.lines += 1

    def write(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.lines:
            now = time.monotonic()
            self.write(f"{self.desc}: done, {self.n:,} {self.unit} in {_duration(now - self.started)} ({self._rate(now):,.0f} {self.unit}/s)")

    def __enter__(self) -> "LogProgress":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        self.closed = True


def progress_bar(total: int | None, desc: str, unit: str = "it", show: bool | None = None) -> Any:
    """A progress report with ``update(n)``, ``write(text)``, ``close()``, usable as a context manager.

    ``show`` False reports nothing (library calls, tests); otherwise a tqdm bar when stderr is a
    terminal, and `LogProgress` lines every `LOG_INTERVAL_S` seconds when it is a file or a pipe.
    """
    if show is False:
        return tqdm(total=total, disable=True)
    if sys.stderr.isatty():
        return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr)
    return LogProgress(total, desc, unit, LOG_INTERVAL_S)
