"""The exit status of a command, chosen so that cron and schedulers can act on it.

====  =============================================================================
code  meaning
====  =============================================================================
0     every endpoint succeeded, or the run finished with an error rate within
      ``--fail-on-error-rate`` (default: the feeds file's ``error_rate_threshold``);
      the failures are then printed as warnings
1     the run finished with an error rate above that, or was interrupted; a reading
      command found nothing (no such run, dead letter or request id)
2     bad usage, a bad feeds file or an unreachable sink (nothing was fetched)
3     the run could not finish (the database failed mid-run): ``resume`` continues it
75    another run holds the database's lock (``EX_TEMPFAIL``): try again later
====  =============================================================================
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # main.py imports this module for --help: no sink modules
    from .._run.summary import RunSummary

__all__ = [
    "EPILOG",
    "EXIT_FAILED",
    "EXIT_LOCKED",
    "EXIT_NOT_FINISHED",
    "EXIT_OK",
    "EXIT_USAGE",
    "add_exit_options",
    "run_exit_status",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_NOT_FINISHED: Final = 3
EXIT_LOCKED: Final = 75  # sysexits.h EX_TEMPFAIL: cron wrappers retry it later

EPILOG: Final = """exit status:
  0   every endpoint succeeded, or the error rate is within --fail-on-error-rate
      (default: the feeds file's error_rate_threshold); failures print as warnings
  1   the run finished above that error rate, or was interrupted; a reading command
      found nothing (no such run, dead letter or request id)
  2   bad usage, a bad feeds file or an unreachable sink
  3   the run could not finish (e.g. the database failed): `supplyfeed resume`
      continues it from its checkpoint
  75  another run holds the database lock (EX_TEMPFAIL): try again later"""


def add_exit_options(p: argparse.ArgumentParser) -> None:
    """``--fail-on-error-rate``; the command's help ends with the exit codes."""
    p.epilog = EPILOG
    p.add_argument(
        "--fail-on-error-rate",
        type=_rate,
        metavar="RATE",
        help="exit 1 only when the share of failed or quarantined endpoints is above "
        "RATE, 0 to 1 (default: the feeds file's error_rate_threshold; 0: any failure)",
    )


def _rate(value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {value}")
    return rate


def run_exit_status(summary: RunSummary, fail_on_error_rate: float | None) -> int:
    """0 for a clean run or one within the tolerated error rate (warning on stderr);
    1 above it, interrupted, or with endpoints left pending."""
    if summary.ok:
        return EXIT_OK
    if summary.interrupted or summary.outcomes.get("pending", 0):
        return EXIT_FAILED
    limit = summary.error_rate_threshold if fail_on_error_rate is None else fail_on_error_rate
    bad = summary.endpoints - summary.outcomes.get("loaded", 0)
    bad -= summary.outcomes.get("unchanged", 0)
    share = f"{bad} of {summary.endpoints} endpoint(s) failed or quarantined"
    if summary.error_rate > limit:
        print(
            f"error: {share} ({summary.error_rate:.2%}, above {limit:.2%}): exit 1; "
            "`supplyfeed failures` lists them",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print(
        f"warning: {share} ({summary.error_rate:.2%}, within {limit:.2%}): exit 0; "
        "`supplyfeed failures` lists them",
        file=sys.stderr,
    )
    return EXIT_OK
