"""cyclecast's main job (``make demo``): learn k-means' cycles over the Deffe cache space by
incremental sampling, transfer the model to matmul with a few hundred new simulations,
compare with a random forest on the same simulations, and answer for the whole space; then
a DNN accelerator study (ResNet-50 layers on Simba, ZigZag), a model of it and the best
schedules of one layer, verified by evaluation.

    python -m ml.demo [--scale demo|paper] [--out runs/demo]

Every simulation is real (qemu-riscv64 + cyclecast's cache plugin, driven by Dakota).
Held-out MAPE is measured on the last 1,000 points of data/reference/KERNEL.tabular.dat.gz,
which exploration never simulates. Writes OUT/summary.md and the plots beside it.
"""
from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from driver import cli
from driver.errors import SpecError
from driver.rundir import RunDir

from . import bundle as bundles
from . import core, explore, predict
from . import features as feature_sets
from .data import read_table
from .errors import DataError
from .metrics import mape

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
SCALES = {  # (start, step, max) for the source kernel, then for the target kernel
    "demo": ((200, 200, 1000), (100, 100, 400)),
    "paper": ((560, 320, 3760), (560, 320, 3760)),  # the paper's Table 3 sample counts
    "tiny": ((30, 20, 50), (20, 20, 40)),  # a smoke test of the whole path (tests/)
}
VERIFY_AT = {"matmul": "n=128"}  # a power of two: where conflict misses spike


def held_out(kernel: str, out: Path, objective: str) -> Path:
    frame = read_table(ROOT / "data" / "reference" / f"{kernel}.tabular.dat.gz", objective).frame
    path = out / f"{kernel}_held_out.csv"
    frame[frame["eval_id"] > 3000].to_csv(path, index=False)
    return path


def forests_at_same_samples(run: Path, spec: Path, test: Path, mode: str) -> dict:
    """Random forests on exactly the exploration's simulated points, scored on ``test``:
    on ln(objective), and (with the family's estimate among the features) as its
    correction."""
    inputs = core.Inputs.of_spec(spec, mode)
    assert inputs.spec is not None  # of_spec: the spec's own features
    objective = inputs.spec.objective
    frames = [read_table(RunDir(d).tabular, objective).frame
              for d in sorted((run / "rounds").glob("[0-9][0-9]")) if d.is_dir()]
    train = pd.concat(frames, ignore_index=True)
    X, y = inputs.matrix(train, str(run)), train[objective].to_numpy(float)
    _, X_held, y_held = inputs.read(test, objective)
    # Each point once, in the order these forests were always fitted in (by value).
    first = core.distinct(X, in_file_order=False)
    estimate = feature_sets.family_of(inputs.spec).estimate_column(objective)
    targets = ["log"] + (["residual"] if estimate in inputs.features.names else [])
    scores = {}
    for target in targets:
        model = core.new_model("rf", target, 0,
                               core.residual_column(inputs.features, target, estimate))
        core.fit(model, X[first], y[first], None, None)
        scores[target] = mape(y_held, model.predict(X_held))
    return scores


ACCELERATOR_SPEC = ROOT / "dakota_inputs" / "demo_accelerator.yaml"
ACCELERATOR_LAYER = "res4_1x1_256_1024"


def accelerator_section(out: Path, scale: str,
                        report: Callable[[str], None] = logger.info) -> list[str]:
    """A small accelerator study (ZigZag), a random forest on the CoSA-style features, and
    the predicted best schedules of one layer, verified by evaluation."""
    from driver.study import Study

    from .train import TrainConfig, train

    report("== accelerator: schedules of ResNet-50 layers on simba_final (ZigZag)")
    run = out / "run"
    spec = ACCELERATOR_SPEC
    if scale == "tiny":  # the smoke test: the same study, fewer schedules
        import yaml

        text = yaml.safe_load(spec.read_text())
        text["sampling"]["samples"] = 150
        spec = out / "demo_accelerator_tiny.yaml"
        out.mkdir(parents=True, exist_ok=True)
        spec.write_text(yaml.safe_dump(text, sort_keys=False))
    start = time.monotonic()
    study = Study(run)
    if not study.tabular.exists():
        try:
            status = Study.render(spec, run).run(quiet=True)
        except SpecError as err:
            raise DataError(f"accelerator study: {err}") from None
        if status:
            raise DataError(f"accelerator study failed (see {run / study.files.DAKOTA_ERR}); "
                            "run the demo again to resume it")
    study_s = time.monotonic() - start
    trained = train(TrainConfig(tabular=study.tabular, model="rf", features="cosa",
                                out=out / "model", quiet=True))
    test = next(iter(trained.values()))["metrics"]["test"]
    found = predict.predict(predict.PredictConfig(
        model_dir=out / "model", spec=ACCELERATOR_SPEC, all=True,
        where=(f"layer={ACCELERATOR_LAYER}",), top=5, verify=3, quiet=True,
        out=out / "space.parquet"), report)
    objective = feature_sets.load(ACCELERATOR_SPEC).objective
    best = found.best
    assert best is not None  # --top 5
    verified = best.dropna(subset=[f"simulated_{objective}"])
    evaluated = read_table(study.tabular, objective).frame
    sampled_best = evaluated[evaluated["layer"] == ACCELERATOR_LAYER][objective].min()
    return [f"## Accelerator: layer {ACCELERATOR_LAYER} on simba_final", "",
            f"- study: `{ACCELERATOR_SPEC.relative_to(ROOT)}`, {len(evaluated)} schedules "
            f"of 3 layers evaluated by ZigZag in {study_s:.0f} s",
            f"- random forest on the CoSA-style features: held-out MAPE "
            f"{test['mape_pct']:.2f}%, schedule comparison accuracy "
            f"{test.get('group_pairwise_accuracy_pct', float('nan')):.1f}%",
            "- the 5 best of its 2,000 schedules (predicted), 3 verified by evaluation:", "",
            "```", best.to_string(index=False), "```", "",
            f"Verified: prediction error {np.abs(verified['error_pct']).mean():.1f}% on "
            f"average; best verified {verified[f'simulated_{objective}'].min():,.0f} "
            f"{objective}, the best the study itself sampled {sampled_best:,.0f}.", ""]


@dataclass(frozen=True)
class DemoConfig:
    scale: str = "demo"
    out: Path = Path("runs/demo")
    features: str | None = None  # default: ml.explore's
    epochs: int | None = None    # CNN: maximum epochs per round (default: ml.explore's)


def main(argv=None) -> int:
    p = cli.Parser(prog="python -m ml.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", default="demo", choices=tuple(SCALES),
                   help="demo: about 10 minutes on 2 cores; paper: the paper's sample counts")
    p.add_argument("--out", type=Path, default=Path("runs/demo"))
    p.add_argument("--features", default=None, help="as in ml.train (default: its default)")
    p.add_argument("--epochs", type=cli.number(int), help="CNN: maximum epochs per round (default: "
                   "ml.explore's)")
    p.add_argument("-v", "--verbose", action="store_true", help="show progress logs")
    ns = p.parse_args(argv)
    cli.show_logs(ns.verbose)

    def say(line: str) -> None:
        print(line, flush=True)

    config = DemoConfig(ns.scale, ns.out, ns.features, ns.epochs)
    return cli.run_cli("ml.demo", lambda: say(demo(config, report=say)), (DataError, SpecError))


def demo(config: DemoConfig, report: Callable[[str], None] = logger.info) -> str:
    """Run the main job; write and return OUT/summary.md. ``report`` gets the progress
    lines (a section's start, each exploration round)."""
    started = time.monotonic()
    config.out.mkdir(parents=True, exist_ok=True)
    (source_plan, target_plan) = SCALES[config.scale]
    options: dict[str, Any] = {"features": config.features} if config.features else {}
    options |= {"cnn": {"epochs": config.epochs}} if config.epochs else {}
    command = "python -m ml.demo" + (f" --scale {config.scale}" if config.scale != "demo"
                                     else "") + (f" --features {config.features}"
                                                 if config.features else "") + (
        f" --epochs {config.epochs}" if config.epochs else "")
    lines = [f"# cyclecast demo ({config.scale} scale)", "", f"Command: `{command}`", ""]
    for kernel, plan, source in (("kmeans", source_plan, None),
                                 ("matmul", target_plan, config.out / "kmeans" / "model")):
        report(f"== {kernel}: incremental sampling, start {plan[0]}, step {plan[1]}, "
               f"at most {plan[2]} simulations{' (transfer from k-means)' if source else ''}")
        spec = ROOT / "dakota_inputs" / f"{kernel}.yaml"
        test = held_out(kernel, config.out, feature_sets.load(spec).objective)
        run = config.out / kernel
        explorer = explore.Explorer(explore.ExploreConfig(
            spec=spec, out=run, start=plan[0], step=plan[1], max=plan[2], patience=2,
            test=test, quiet=True, source=source, **options))
        state = explorer.run(report)
        last = state["rounds"][-1]
        forests = forests_at_same_samples(run, spec, test, explorer.mode)
        as_correction = (f" ({forests['residual']:.2f}% as the correction to the profile's"
                         " estimate, like the CNN)" if "residual" in forests else "")
        lines += [f"## {kernel}", "",
                  f"- {last['simulated_total']} simulations in {len(state['rounds'])} rounds;"
                  f" stopped: {state['stopped']}",
                  f"- held-out MAPE (1,000 reference points): CNN "
                  f"{last['test_mape_pct']:.2f}%, random forest on the same simulations "
                  f"{forests['log']:.2f}%{as_correction}",
                  f"- features: {explorer.mode}; the CNN fits: {explorer.target}; "
                  f"learning curve: {run / 'learning_curve.png'}", ""]
    report("== whole matmul space: best designs, Pareto front, verified by simulation")
    answers_out = config.out / "matmul_space.parquet"
    found = predict.predict(predict.PredictConfig(
        model_dir=config.out / "matmul" / "model",
        spec=ROOT / "dakota_inputs" / "matmul.yaml", all=True,
        where=(VERIFY_AT["matmul"],), top=5, pareto=True, verify=3, quiet=True,
        out=answers_out), report)
    best = found.best
    # --top 5 and --pareto: the best designs, the budget table and the knee
    assert best is not None and found.budgets is not None and found.knees is not None
    objective = best.columns[[c.startswith("simulated_") for c in best.columns]][0]
    verified = best.dropna(subset=[objective])
    lines += ["## matmul, n = 128: the 5 best of 46,656 cache designs (predicted)", "",
              "```", best.to_string(index=False), "```", "",
              f"Verified by simulation: {len(verified)} designs, prediction error "
              f"{np.abs(verified['error_pct']).mean():.2f}% on average.", "",
              "The best design within each total-cache budget (the predicted Pareto "
              "front, levels spread over its range), and its knee (where more cache "
              "stops buying much):", "",
              "```", found.budgets.to_string(index=False), "```", "",
              "Knee: " + ", ".join(f"{k}={v:,.0f}" if isinstance(v, float) else f"{k}={v}"
                                   for k, v in found.knees.iloc[0].to_dict().items()), "",
              f"Pareto front: {answers_out.with_name('matmul_space_pareto.png')}", ""]
    lines += accelerator_section(config.out / "accelerator", config.scale, report)
    minutes = (time.monotonic() - started) / 60
    lines.append(f"Wall time: {minutes:.1f} minutes; commit {bundles.commit() or 'unknown'}; "
                 f"versions: {bundles.versions()}")
    text = "\n".join(lines) + "\n"
    (config.out / "summary.md").write_text(text)
    return text


if __name__ == "__main__":
    sys.exit(main())
