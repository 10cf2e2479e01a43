"""Who evaluates a batch of design points in an in-process study (:mod:`.inprocess`).

``Direct``  this process, one point after another (concurrency 1, or a backend that
            computes in Python and is cheaper to call than to ship to a worker);
``Pool``    ``concurrency`` local worker processes that build the backend once and stay
            alive for the whole study; a worker that dies fails only its own evaluations;
``Steps``   inside a Slurm allocation: one ``srun`` job step per task and batch
            (:mod:`.steps`), so evaluations land on every node of the allocation;
``Servers`` inside a Slurm allocation: one long-lived ``srun`` step per task for the whole
            study, fed one point at a time over its stdin (no step launch per batch, and
            the next point goes to whichever step is free).

Each returns, per point, the record :func:`driver.evaluation.evaluate_one` makes (the fork
interface's records, identical), and writes nothing else itself.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

from . import faults
from .evaluation import evaluate_one
from .resolved import ResolvedSpec
from .rundir import RunDir

_worker: dict = {}  # the backend of a pool worker process, built once by _start


def _start(spec: ResolvedSpec, rundir: str, parent: int) -> None:
    _die_with(parent)
    _worker.update(backend=spec.make_backend(), rundir=Path(rundir),
                   faults=faults.from_environment())


def _die_with(parent: int) -> None:
    """Linux: this worker gets SIGKILL when the study's process dies (a kill -9 of the
    study must not leave workers behind to linger or race a resumed run)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the study died before the request took effect
        os._exit(1)


def _evaluate_chunk(jobs: list, responses: list[str], light: bool) -> list[dict]:
    """A chunk of points in one worker (one message each way): a simulator's points with
    their memo files and faults, a Python backend's (``light``) without."""
    backend, rundir = _worker["backend"], _worker["rundir"]
    if light:
        return [_python_call(backend, point, number, responses, Path(workdir), rundir)
                for point, number, workdir in jobs]
    return [evaluate_one(backend, point, number, responses, Path(workdir), rundir,
                         _worker["faults"]) for point, number, workdir in jobs]


def _python_call(backend, point, number, responses, workdir, rundir) -> dict:
    """A Python backend's evaluation: no per-point memo file (the study's records are its
    memo), and a bug in one point fails that point, not the batch."""
    try:
        return evaluate_one(backend, point, number, responses, workdir, rundir, None,
                            memo=False)
    except Exception as err:  # noqa: BLE001 - one point's failure, recorded
        return _failed(point, number, workdir, f"{type(err).__name__}: {err}"[:300])


def _failed(point, number, workdir, reason: str, kind: str = "crash") -> dict:
    import time

    return {"eval": number, "point": point, "workdir": str(workdir), "seconds": 0.0,
            "end": round(time.time(), 4), "status": "failed", "kind": kind, "reason": reason}


def _ignore(record: dict) -> None:
    """Default ``on_record``: evaluators report each record as soon as it is final."""


class Direct:
    def __init__(self, spec: ResolvedSpec, rundir: Path):
        self.backend, self.rundir = spec.make_backend(), rundir
        self.faults = faults.from_environment()
        self.light = getattr(self.backend, "in_process", False)

    def evaluate(self, jobs, responses, on_record=_ignore) -> list[dict]:
        out = []
        for point, number, workdir in jobs:
            out.append(self._call(point, number, responses, workdir) if self.light else
                       evaluate_one(self.backend, point, number, responses, workdir,
                                    self.rundir, self.faults))
            on_record(out[-1])
        return out

    def _call(self, point, number, responses, workdir) -> dict:
        return _python_call(self.backend, point, number, responses, workdir, self.rundir)

    def close(self) -> None:
        pass


class Pool:
    def __init__(self, spec: ResolvedSpec, rundir: Path, workers: int):
        self.spec, self.rundir, self.workers = spec, str(rundir), workers
        # A Python backend's points travel in chunks (a few per worker and batch).
        self.light = spec.backend_class.in_process
        # A worker that outlives its timeout by this much is stuck outside the simulator.
        self.deadline = spec.execution.timeout_s * 1.5 + 30
        self.pool = self._new()

    def _new(self):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # fork: workers start from this process before Dakota runs in it, in milliseconds.
        pool = ProcessPoolExecutor(self.workers, multiprocessing.get_context("fork"),
                                   initializer=_start,
                                   initargs=(self.spec, self.rundir, os.getpid()))
        list(pool.map(_noop, range(self.workers)))  # start every worker now
        return pool

    def evaluate(self, jobs, responses, on_record=_ignore) -> list[dict]:
        from concurrent.futures import TimeoutError as Late
        from concurrent.futures.process import BrokenProcessPool

        # A simulator's points go one at a time (a slow one holds up no other); a Python
        # backend's in a few chunks per worker.
        size = max(1, -(-len(jobs) // (4 * self.workers))) if self.light else 1
        chunks = [jobs[i:i + size] for i in range(0, len(jobs), size)]
        futures = [self.pool.submit(_evaluate_chunk, [(p, n, str(w)) for p, n, w in chunk],
                                    responses, self.light) for chunk in chunks]
        out, broken = [], False
        for chunk, future in zip(chunks, futures, strict=True):
            timeout = self.deadline * len(chunk)
            try:
                found = future.result(timeout=timeout)
            except BrokenProcessPool:
                broken = True
                found = [_failed(p, n, w, "worker process died") for p, n, w in chunk]
            except Late:
                broken = True
                found = [_failed(p, n, w, f"no answer from its worker after {timeout:g} s",
                                 "timeout") for p, n, w in chunk]
            out += found
            for record in found:
                on_record(record)
        if broken:  # start afresh: a dead or stuck worker must not take the next batch
            self.close(kill=True)
            self.pool = self._new()
        return out

    def close(self, kill: bool = False) -> None:
        if kill:
            for process in list(getattr(self.pool, "_processes", {}).values()):
                process.kill()
        self.pool.shutdown(wait=not kill, cancel_futures=True)


def _noop(_):
    return None


class Steps:
    """One srun job step per task and batch: each step evaluates its share of the batch
    (python -m driver.steps), writing one result file; a step that dies fails its points."""

    def __init__(self, spec: ResolvedSpec, rundir: Path, tasks: int):
        self.spec, self.rundir, self.tasks = spec, rundir, tasks
        self.cpus = spec.execution.slurm.cpus_per_task
        self.batches = 0

    def evaluate(self, jobs, responses, on_record=_ignore) -> list[dict]:
        self.batches += 1
        folder = RunDir(self.rundir).evals / f"batch.{self.batches}"
        folder.mkdir(parents=True, exist_ok=True)
        shares = [jobs[i::self.tasks] for i in range(self.tasks)]
        running = []
        for task, share in enumerate(shares):
            if not share:
                continue
            request, answer = folder / f"task.{task}.json", folder / f"task.{task}.out.json"
            request.write_text(json.dumps({"responses": responses, "jobs": [
                {"point": p, "number": n, "workdir": str(w)} for p, n, w in share]}))
            answer.unlink(missing_ok=True)
            command = ["srun", "--exclusive", "--nodes=1", "--ntasks=1",
                       f"--cpus-per-task={self.cpus}", "--job-name=evals", "--quiet",
                       sys.executable, "-m", "driver.steps",
                       str(RunDir(self.rundir).spec), str(request), str(answer)]
            log = open(folder / f"task.{task}.log", "wb")
            running.append((share, answer, log,
                            subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL)))
        by_number = {}
        for share, answer, log, proc in running:
            status = proc.wait()
            log.close()
            try:
                found = {r["eval"]: r for r in json.loads(answer.read_text())}
            except (OSError, ValueError):
                found = {}
            for point, number, workdir in share:
                by_number[number] = found.get(number) or _failed(
                    point, number, workdir, f"job step ended with status {status} before "
                    "answering")
                on_record(by_number[number])
        return [by_number[number] for _, number, _ in jobs]

    def close(self) -> None:
        pass


class Servers:
    """One long-lived srun step per task (python -m driver.steps --serve): each point goes
    to a free step as one JSON line and comes back as one record. A step that dies (its
    node lost, its process killed) has its point handed to another step, up to
    STEP_DEATHS times per point; it is started again at the next batch."""

    STEP_DEATHS = 3

    def __init__(self, spec: ResolvedSpec, rundir: Path, tasks: int):
        self.rundir, self.cpus = rundir, spec.execution.slurm.cpus_per_task
        self.deadline = spec.execution.timeout_s * 1.5 + 60
        self.steps: list = [self._start(i) for i in range(tasks)]

    def _start(self, index: int):
        log = open(self.rundir / f"worker.{index}.log", "ab")
        command = ["srun", "--exclusive", "--nodes=1", "--ntasks=1",
                   f"--cpus-per-task={self.cpus}", "--job-name=worker", "--quiet",
                   sys.executable, "-m", "driver.steps", "--serve",
                   str(RunDir(self.rundir).spec)]
        return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=log, bufsize=0)

    def evaluate(self, jobs, responses, on_record=_ignore) -> list[dict]:
        import selectors
        import time

        for index, step in enumerate(self.steps):  # steps lost in an earlier batch
            if step is None:
                self.steps[index] = self._start(index)
        pending = list(enumerate(jobs))[::-1]
        out: list[dict | None] = [None] * len(jobs)
        deaths = [0] * len(jobs)
        busy: dict[int, tuple[int, tuple]] = {}  # step index -> (job index, job)
        selector = selectors.DefaultSelector()

        def lose(index: int, i: int, job: tuple[dict, int, Path], why: str) -> None:
            """Step ``index`` died holding job ``i``: hand the job on, or fail it."""
            deaths[i] += 1
            if deaths[i] < self.STEP_DEATHS:
                pending.append((i, job))
            else:
                out[i] = _failed(*job, f"{why} ({deaths[i]} times)")
                on_record(out[i])
            with contextlib.suppress(OSError, KeyError, ValueError):
                selector.unregister(self.steps[index].stdout)
            self.steps[index].kill()
            self.steps[index].wait()
            self.steps[index] = None

        def feed(index: int) -> None:
            while pending and self.steps[index] is not None:
                i, job = pending.pop()
                point, number, workdir = job
                line = json.dumps({"point": point, "number": number, "workdir": str(workdir),
                                   "responses": responses}) + "\n"
                try:
                    self.steps[index].stdin.write(line.encode())
                except OSError:
                    lose(index, i, job, "job step died")
                    return
                busy[index] = (i, job)
                return

        for index, step in enumerate(self.steps):
            selector.register(step.stdout, selectors.EVENT_READ, index)
            feed(index)
        while busy or pending:
            if not busy:  # every step died: start them again (slowly) for what is left
                time.sleep(2)
                for index in range(len(self.steps)):
                    if self.steps[index] is None:
                        self.steps[index] = self._start(index)
                        selector.register(self.steps[index].stdout, selectors.EVENT_READ,
                                          index)
                    feed(index)
                continue
            events = selector.select(timeout=self.deadline)
            if not events:  # nothing answered in time: fail what is in flight
                for index, (i, job) in list(busy.items()):
                    del busy[index]
                    deaths[i] = self.STEP_DEATHS - 1
                    lose(index, i, job, f"no answer from its job step after "
                         f"{self.deadline:g} s")
                continue
            for key, _ in events:
                index = key.data
                i, job = busy.pop(index)
                line = self.steps[index].stdout.readline()
                if line:
                    out[i] = json.loads(line)
                    on_record(out[i])
                    feed(index)
                else:
                    lose(index, i, job, "job step died")
            for index in range(len(self.steps)):  # idle live steps take what was handed on
                if index not in busy and self.steps[index] is not None:
                    feed(index)
        selector.close()
        return [r for r in out if r is not None]  # every job answered or failed by now

    def close(self) -> None:
        live = [step for step in self.steps if step is not None]
        for step in live:
            with contextlib.suppress(OSError, KeyError, ValueError):
                step.stdin.close()
        for step in live:
            try:
                step.wait(timeout=30)
            except subprocess.TimeoutExpired:
                step.kill()


SLURM_WORKERS = ("servers", "steps")  # CYCLECAST_SLURM_WORKERS; the first is the default


def evaluator_for(spec: ResolvedSpec, rundir: Path):
    """The evaluator for this study here: Slurm steps inside an allocation with several
    tasks (long-lived, or one per batch with CYCLECAST_SLURM_WORKERS=steps), a worker pool
    for concurrency > 1, else this process."""
    tasks = int(os.environ.get("SLURM_NTASKS", "0") or 0)
    if os.environ.get("SLURM_JOB_ID") and tasks > 1:
        kind = os.environ.get("CYCLECAST_SLURM_WORKERS", SLURM_WORKERS[0])
        return (Steps if kind == "steps" else Servers)(spec, rundir, tasks)
    concurrency = spec.execution.concurrency
    cls = spec.backend_class
    if concurrency > 1 and (not cls.in_process or cls.parallel):
        return Pool(spec, rundir, concurrency)
    return Direct(spec, rundir)
