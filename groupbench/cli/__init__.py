"""The ``groupbench`` command. Each command group lives in its own module and is added here."""

from __future__ import annotations

import errno
import os
import signal
import threading

import click

from groupbench import __version__
from groupbench.errors import GroupbenchError


OVERWRITE_OPTION = click.option(
    "--overwrite", is_flag=True, help="Replace OUT if it exists (never one of the command's inputs)."
)
"""The one --overwrite flag of every command that writes a file (the rule: `groupbench.writer.check_output`)."""


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class Commands(click.Group):
    """A click group that turns a `GroupbenchError` into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context):
        previous = _terminate_cleanly()
        try:
            return super().invoke(ctx)
        except GroupbenchError as error:
            raise click.ClickException(str(error)) from None
        except OSError as error:
            if error.errno not in _DISK_FULL:
                raise
            # a write the command does not route through groupbench.writer (logs, event files): one line too
            where = f" {error.filename}" if error.filename else ""
            raise click.ClickException(f"cannot write{where}: {os.strerror(error.errno)}; free some space or write elsewhere") from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


def _terminated(signum, frame) -> None:
    click.echo(f"terminated (signal {signum}); unfinished outputs were removed", err=True)
    raise SystemExit(128 + signum)


def _terminate_cleanly():
    """Make SIGTERM (kill, timeout, a job scheduler) unwind like Ctrl-C, so temporary files are
    removed; returns the previous handler (None where handlers cannot be set: not the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _terminated)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="groupbench")
def main() -> None:
    """groupbench: datasets, scoring, baselines and a leaderboard for unsupervised perceptual grouping."""


from groupbench.cli import datasets as _datasets  # noqa: E402,F401  (each module registers its commands on main)
from groupbench.cli import demo as _demo  # noqa: E402,F401
from groupbench.cli import score as _score  # noqa: E402,F401
from groupbench.cli import leaderboard as _leaderboard  # noqa: E402,F401
from groupbench.cli import export as _export  # noqa: E402,F401
from groupbench.cli import fetch as _fetch  # noqa: E402,F401
from groupbench.cli import importer as _importer  # noqa: E402,F401
from groupbench.cli import baselines as _baselines  # noqa: E402,F401
