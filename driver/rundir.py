"""A run directory: the one place that names the files cyclecast and Dakota keep in it,
and the one reader of its resolved spec (``spec.resolved.json``, the on-disk contract
between ``render`` and everything that runs or learns from a study).

Only the standard library is imported: the fork driver finds its run directory on every
evaluation.
"""
from __future__ import annotations

import json
from pathlib import Path

from .errors import SpecError
from .resolved import ResolvedSpec

RESOLVED_SPEC = "spec.resolved.json"
#: Keys every resolved spec has (render writes them all; a copy without one is damaged).
REQUIRED_KEYS = ("study", "parameters", "backend", "sampling", "execution", "spec_path")
RENDER_AGAIN = "render the study again with `python -m driver.study render SPEC -o DIR`"


class RunDir:
    """The files of one run directory (``path`` as given: callers resolve it if needed)."""

    SPEC = RESOLVED_SPEC
    DECK = "study.in"             # the Dakota deck
    DRIVER_SCRIPT = "driver.sh"   # Dakota's analysis driver (fork interface)
    JOB_SCRIPT = "job.sh"         # the Slurm batch job
    TABULAR = "tabular.dat"       # Dakota's tabular data (or rebuilt from the records)
    SUMMARY = "summary.txt"       # written when a study ends: it says the study finished
    EVALUATIONS = "evaluations.jsonl"
    FAILURES = "failures.jsonl"
    JOBS = "jobs.jsonl"           # Slurm jobs submitted for this run
    MEMO = "done"                 # one file per finished design point
    EVALS = "evals"               # evals/eval.N: one work directory per evaluation
    PARAMS = "params.in"          # in evals/eval.N (fork interface): Dakota's question
    RESULTS = "results.out"       # ... and the driver's answer (the deck names both)
    LOCK = ".lock"                # held by the process running the study (and its Dakota)
    DAKOTA_OUT = "dakota.out"
    DAKOTA_ERR = "dakota.err"
    # Dakota's restart file: the dakota executable writes the one it is told to (fork
    # interface, -write_restart); its in-process Python study always writes dakota.rst.
    RESTART = "study.rst"
    INPROCESS_RESTART = "dakota.rst"
    PREVIOUS_RESTART = "previous.rst"  # the copy a resumed Dakota reads back

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def spec(self) -> Path:
        return self.path / self.SPEC

    @property
    def deck(self) -> Path:
        return self.path / self.DECK

    @property
    def tabular(self) -> Path:
        return self.path / self.TABULAR

    @property
    def evaluations(self) -> Path:
        return self.path / self.EVALUATIONS

    @property
    def failures(self) -> Path:
        return self.path / self.FAILURES

    @property
    def summary(self) -> Path:
        return self.path / self.SUMMARY

    @property
    def evals(self) -> Path:
        return self.path / self.EVALS

    @property
    def memo(self) -> Path:
        return self.path / self.MEMO

    def restart(self, interface: str) -> Path:
        """The restart file Dakota writes under ``interface`` (fork or python)."""
        return self.path / (self.INPROCESS_RESTART if interface == "python" else self.RESTART)

    def has_results(self) -> bool:
        """Whether evaluations were made here (records or a restart file of either
        interface): its spec may then change only in ways that keep them valid."""
        return any((self.path / name).exists() for name in
                   (self.EVALUATIONS, self.RESTART, self.INPROCESS_RESTART))

    def is_rundir(self) -> bool:
        """Whether ``render`` made this directory (its spec and deck are there)."""
        return self.spec.is_file() and self.deck.is_file()

    def read_spec(self) -> ResolvedSpec:
        """The resolved spec, or a one-line SpecError if it is not a run directory."""
        if not self.is_rundir():
            raise SpecError(f"{self.path}: not a cyclecast run directory (no {self.SPEC} "
                            f"and {self.DECK}); create one with `python -m driver.study "
                            "render SPEC -o DIR`")
        return read_resolved(self.spec)

    def write_spec(self, spec: ResolvedSpec) -> None:
        self.spec.write_text(json.dumps(spec.to_json(), indent=1) + "\n")

    @classmethod
    def containing(cls, start: Path) -> RunDir:
        """The run directory holding ``start`` (itself or a folder above it)."""
        for directory in (start, *start.parents):
            if (directory / RESOLVED_SPEC).is_file():
                return cls(directory)
        raise SpecError(f"{start}: no {RESOLVED_SPEC} here or above; pass --spec or render "
                        "the study with `python -m driver.study render`")


def read_resolved(path: str | Path) -> ResolvedSpec:
    """A resolved spec file (``spec.resolved.json``), or a one-line SpecError naming what
    is wrong with it: the one reader of that file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise SpecError(f"{path}: cannot read the resolved spec: {err.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: damaged (is not valid JSON); {RENDER_AGAIN} (finished "
                        "evaluations are kept)")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise SpecError(f"{path}: damaged (lacks {', '.join(missing)}); {RENDER_AGAIN} "
                        "(finished evaluations are kept)")
    typed = isinstance(data["parameters"], list) and all(
        isinstance(p, dict) and "name" in p and "type" in p for p in data["parameters"])
    if not typed or "objective" not in data or "responses" not in data:
        raise SpecError(f"{path}: a resolved spec of an older cyclecast (no parameter types, "
                        f"responses or objective); {RENDER_AGAIN}")
    try:
        return ResolvedSpec.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise SpecError(f"{path}: damaged ({type(err).__name__}: {err}); {RENDER_AGAIN} "
                        "(finished evaluations are kept)") from None
