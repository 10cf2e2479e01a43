"""What every cyclecast command does with bad input: one line on stderr, a non-zero exit.

``Parser`` is argparse's parser with usage errors on one line. ``run_cli`` calls a
command's body and turns what it raises into that line: the command's own error types
(exit 2), an operating-system error on a path (exit 2: the file and the system's reason),
an interrupt (130), and, as a last resort, an unexpected exception (70: a bug; set
``CYCLECAST_DEBUG=1`` for its traceback). No traceback reaches a user otherwise.
"""
from __future__ import annotations

import argparse
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, NoReturn

DEBUG = "CYCLECAST_DEBUG"


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line naming the option and what is allowed."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {' '.join(message.split())} (see --help)\n")


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def number(kind: type = int, minimum: float | None = 1, above: float | None = None,
           below: float | None = None):
    """An argparse ``type``: a ``kind`` number >= ``minimum``, > ``above`` and < ``below``
    (those given), else a one-line usage error saying which."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            article = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {article}") from None
        wanted = [(minimum, ">=", lambda b: value >= b), (above, ">", lambda b: value > b),
                  (below, "<", lambda b: value < b)]
        broken = [f"{sign} {bound:g}" for bound, sign, holds in wanted
                  if bound is not None and not holds(bound)]
        if broken or value != value:  # value != value: NaN
            raise argparse.ArgumentTypeError(f"{text} must be "
                                             f"{' and '.join(broken) or 'a number'}")
        return value
    parse.__name__ = kind.__name__
    return parse


def show_logs(verbose: bool) -> None:
    """``-v`` on a command: library code's INFO logs on stderr (quiet by default)."""
    if verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")


def run_cli(prog: str, body: Callable[[], int | None],
            errors: tuple[type[Exception], ...]) -> int:
    """``body()``'s exit status, or a one-line message on stderr and a non-zero status."""
    try:
        status = body() or 0
        sys.stdout.flush()  # a pipe's reader that left shows here, not at interpreter exit
        return status
    except errors as err:
        message, status = one_line(err), 2
    except BrokenPipeError:  # `... | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        message, status = "interrupted; finished work is kept", 130
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        message, status = f"{where}{err.strerror or one_line(err)}", 2
    except Exception as err:  # noqa: BLE001 - the last line of defence, see module doc
        if os.environ.get(DEBUG):
            raise
        message = (f"internal error ({type(err).__name__}: {one_line(err)[:300]}); please "
                   f"report it (set {DEBUG}=1 to see where)")
        status = 70
    print(f"{prog}: {message}", file=sys.stderr)
    return status
