"""A run's progress in words: done, failed, running, remaining, its Slurm job, and why
evaluations failed."""
from __future__ import annotations

from pathlib import Path

from .. import records, slurm
from ..rundir import RunDir


def status(rundir: Path) -> str:
    files = RunDir(rundir)
    spec = files.read_spec()
    total = spec.total_evaluations
    latest = records.latest_by_evaluation(rundir)
    failed = [r for r in latest.values() if r["status"] == "failed"]
    done = len(latest) - len(failed)
    submitted = slurm.jobs(rundir)
    job = slurm.active_job(rundir)
    in_progress = 0
    for params in files.evals.glob(f"eval.*/{RunDir.PARAMS}"):
        if not (params.parent / RunDir.RESULTS).exists():
            in_progress += params.read_text().count("eval_id")
    label = "running" if job or not submitted else "interrupted"
    remaining = max(total - len(latest) - in_progress, 0)
    if files.summary.exists():  # written when Dakota finished the study
        repeats = f"; {remaining} repeated points answered from Dakota's cache" \
            if remaining else ""
        lines = [f"study {spec.study} in {rundir}: finished",
                 f"done {done}, failed {len(failed)} (of {total} samples{repeats})"]
    else:
        lines = [f"study {spec.study} in {rundir}",
                 f"done {done}, failed {len(failed)}, {label} {in_progress}, "
                 f"remaining {remaining} (of {total})"]
    if submitted:
        last = submitted[-1]
        lines.append(f"slurm job {job[0]}: {job[1]}" if job else
                     f"slurm job {last}: {slurm.job_state(last)} (no job of this run is queued)")
    kinds: dict[str, list[dict]] = {}
    for record in failed:
        kinds.setdefault(record["kind"], []).append(record)
    for kind, group in sorted(kinds.items()):
        ids = ", ".join(str(r["eval"]) for r in sorted(group, key=lambda r: r["eval"]))
        lines.append(f"failed ({kind}): evals {ids}; e.g. {group[0]['reason']}")
    return "\n".join(lines)
