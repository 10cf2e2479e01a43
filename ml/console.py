"""The ``cyclecast`` command: one entry point over the study and model commands.

    cyclecast render|run|submit|status|resume|tabular|exec ...   (python -m driver.study ...)
    cyclecast train|predict|explore|demo ...                      (python -m ml.COMMAND ...)

Each subcommand is the ``python -m`` form the README documents, with the same arguments,
help and exit statuses; this module only dispatches (and imports only the one it runs).
"""
from __future__ import annotations

import importlib
import sys

STUDY = ("render", "run", "submit", "status", "resume", "tabular", "exec")
MODELS = ("train", "predict", "explore", "demo")
USAGE = (f"usage: cyclecast {{{','.join(STUDY + MODELS)}}} ...\n"
         "  study: render, run, submit, status, resume, tabular, exec (python -m driver.study)\n"
         "  models: train, predict, explore, demo (python -m ml.train, ...)\n"
         "  cyclecast COMMAND --help: that command's arguments\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command in STUDY:
        return importlib.import_module("driver.study.__main__").main([command, *rest])
    if command in MODELS:
        return importlib.import_module(f"ml.{command}").main(rest)
    sys.stderr.write(f"cyclecast: unknown command {command!r}; allowed: "
                     f"{', '.join(STUDY + MODELS)} (see cyclecast --help)\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
