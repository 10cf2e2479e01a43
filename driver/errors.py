"""Every error type of cyclecast, in one tree that the rest of the code imports downward.

``CyclecastError``
    ``InputError`` (also a ``ValueError``): bad user input; the message is one line naming
    the file, the field and what is allowed. A CLI prints it and exits 2.
        ``SpecError``: a study spec, a run directory or a command's arguments.
        ``DataError``: a data file, a feature list or a model bundle (``ml/``).
    ``EvaluationFailed``: one evaluation failed (crash, timeout, unparsable output); the
    study goes on and records it.
    ``InternalError``: a broken invariant, i.e. a bug; a CLI reports it as one.

This module imports nothing: the fork driver pays for it on every evaluation.
"""
from __future__ import annotations


class CyclecastError(Exception):
    """Base of every error cyclecast raises on purpose."""


class InputError(CyclecastError, ValueError):
    """Bad user input; the message is one line naming file, field and allowed values."""


class SpecError(InputError):
    """A study spec, run directory or command line cyclecast cannot use."""


class DataError(InputError):
    """Bad data, feature list, spec or model bundle given to ``ml/``."""


class EvaluationFailed(CyclecastError):
    """One evaluation failed (crash, timeout, unparsable output). The study goes on."""

    def __init__(self, reason: str, kind: str = "error"):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind  # short tag: crash | timeout | garbage | error


class InternalError(CyclecastError):
    """A broken invariant inside cyclecast (a bug), not something the user can mend."""
