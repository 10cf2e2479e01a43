"""A trained model on disk: the model's own file(s) plus ``bundle.json`` with everything
needed to use it again: feature order, roles and transforms, task (regression or
classification), target transform, scalers, the spec hash, seed and library versions.
Which class reads the files is the model registry's business (:func:`ml.models.load`)."""
from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from pathlib import Path

from . import models
from .errors import DataError
from .features import FeatureSet

TYPE_CHECKING = False  # annotations only
if TYPE_CHECKING:
    from driver.resolved import ResolvedSpec

BUNDLE = "bundle.json"


def commit() -> str:
    """The cyclecast checkout's short commit hash (with ``+changes`` when its tracked files
    differ from it), or "" outside a git checkout: what a report was made with."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                              capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--"], cwd=root,
                               capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if head.returncode != 0:
        return ""
    return head.stdout.strip() + ("+changes" if dirty.returncode == 1 else "")


def versions() -> dict[str, str]:
    """Versions of Python and the libraries a model depends on (read from package
    metadata: importing TensorFlow only to ask its version costs seconds)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("numpy", "scikit-learn", "keras", "tensorflow-cpu", "tensorflow",
                    "xgboost-cpu", "xgboost", "pandas"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


def spec_hash(spec: ResolvedSpec | None) -> str | None:
    """Hash of the spec's parameters (names, types, roles, values, transforms): what a
    model's features mean. None when features came from a tabular header."""
    if spec is None:
        return None
    import hashlib

    keep = [{"name": p.name, "type": p.kind, "role": p.role, "values": list(p.values),
             "transform": p.transform} for p in spec.parameters]
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Bundle:
    model: models.Surrogate
    features: FeatureSet
    meta: dict               # bundle.json


def save(directory: Path, model, features: FeatureSet, meta: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    state = model.save(directory)
    info = {"model": model.label, "family": model.name, "target": model.target,
            "task": model.task, "state": state, "features": features.to_json(),
            "feature_source": features.source,
            "feature_digest": features.digest(), "versions": versions(), "commit": commit(),
            **meta}
    (directory / BUNDLE).write_text(json.dumps(info, indent=1) + "\n")


def load(directory: str | Path) -> Bundle:
    directory = Path(directory)
    try:
        meta = json.loads((directory / BUNDLE).read_text())
    except FileNotFoundError:
        raise DataError(f"{directory}: not a model bundle (no {BUNDLE}); train one with "
                        "`python -m ml.train`") from None
    except ValueError as err:
        raise DataError(f"{directory / BUNDLE}: corrupt bundle description: {err}") from None
    state = meta.get("state") if isinstance(meta, dict) else None
    file = state.get("file") if isinstance(state, dict) else None
    where = directory / file if isinstance(file, str) else directory / BUNDLE
    try:
        model = models.load(directory, state)
    except Exception as err:  # noqa: BLE001 - any failure to read the file is one message
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise DataError(f"{where}: cannot load the model "
                        f"(corrupt or from another version): {first}") from None
    try:
        features = FeatureSet.from_json(meta["features"], meta["feature_source"])
    except (KeyError, TypeError) as err:
        raise DataError(f"{directory / BUNDLE}: corrupt bundle description: no valid "
                        f"features ({type(err).__name__}: {err})") from None
    return Bundle(model, features, meta)
