"""Which columns a model sees, in which order, and how each is transformed.

Taken from the study spec (parameter names, roles and ``transform``) or, without one, from
the tabular header: the columns between the leading ``eval_id interface`` and the response
column (Dakota writes variables before responses).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError

ROLES = ("architecture", "workload", "derived", "unknown")
FEATURE_MODES = ("raw", "derived", "both")
# ml.train's and ml.explore's default: both where the study's program can be profiled
# (the best measured, bench/results/features.md), else raw.
DEFAULT_MODE = "auto"
PROGRAM_SETTINGS = ("program", "kernel", "source", "binary")


def resolve_mode(requested: str, spec_path: Path | None) -> str:
    """--features auto: both when a spec names a program to profile, raw otherwise."""
    if requested != "auto":
        return requested
    if spec_path is None:
        return "raw"
    from driver.backends import SpecError
    from driver.spec import load_spec

    try:
        settings = load_spec(spec_path, backend=False)["backend"].get("settings", {})
    except SpecError as err:
        raise DataError(str(err)) from None
    return "both" if any(k in settings for k in PROGRAM_SETTINGS) else "raw"


@dataclass(frozen=True)
class Feature:
    name: str
    role: str        # architecture | workload | unknown (no spec)
    transform: str   # none | log2


def auto_transform(values) -> str:
    """log2 for positive values spanning a factor of 4 or more (sizes, counts)."""
    values = np.asarray(values, dtype=float)
    if values.size and values.min() > 0 and values.max() / values.min() >= 4:
        return "log2"
    return "none"


class FeatureSet:
    """Ordered features; ``matrix`` turns a frame into model input of shape (rows, features)."""

    def __init__(self, features: list[Feature], source: str):
        self.features = list(features)
        self.source = source  # the spec file or "header of <file>"

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def of_role(self, role: str) -> list[Feature]:
        return [f for f in self.features if f.role == role]

    def matrix(self, frame: pd.DataFrame, where: str) -> np.ndarray:
        missing = [n for n in self.names if n not in frame.columns]
        if missing:
            raise DataError(f"{where}: missing feature column(s) {', '.join(missing)} "
                            f"(features from {self.source}: {', '.join(self.names)})")
        columns = []
        for f in self.features:
            values = frame[f.name].to_numpy(dtype=float)
            if f.transform == "log2":
                if (values <= 0).any() or np.isnan(values).any():
                    raise DataError(f"{where}: column {f.name}: log2 transform needs positive "
                                    "values; found zero, negative or missing ones")
                values = np.log2(values)
            columns.append(values)
        return np.column_stack(columns).astype(np.float32)

    def to_json(self) -> list[dict]:
        return [asdict(f) for f in self.features]

    @classmethod
    def from_json(cls, items: list[dict], source: str) -> FeatureSet:
        return cls([Feature(**item) for item in items], source)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()[:16]


def from_spec(spec: dict) -> FeatureSet:
    features = []
    for p in spec["parameters"]:
        transform = p.get("transform", "auto")
        if transform == "auto":
            transform = auto_transform(p["values"])
        features.append(Feature(p["name"], p["role"], transform))
    return FeatureSet(features, spec.get("spec_path", "spec"))


def from_header(frame: pd.DataFrame, response: str, path: Path) -> FeatureSet:
    columns = [c for c in frame.columns if c not in ("eval_id", "interface")]
    variables = columns[:columns.index(response)]
    if not variables:
        raise DataError(f"{path}: no feature columns before the response column {response!r}; "
                        "pass --spec to name the features")
    return FeatureSet([Feature(c, "unknown", auto_transform(frame[c])) for c in variables],
                      f"header of {path}")


def load_spec_features(path: Path, mode: str = "raw",
                       backend: bool = False) -> tuple[FeatureSet, dict]:
    """Features of a study spec file, validated as the study itself validates it.

    ``mode``: raw (the spec's parameters), derived (the workload-aware est_* features of
    :mod:`ml.derived`) or both. Derived features need the backend part of the spec (the
    program to profile), so the spec is then loaded with its backend checks (as it is
    with ``backend=True``, for tools that also run the study)."""
    from driver.backends import SpecError
    from driver.spec import load_spec

    try:
        spec = load_spec(path, backend=backend or mode != "raw")
    except SpecError as err:
        raise DataError(str(err)) from None
    raw = from_spec(spec)
    if mode == "raw":
        return raw, spec
    from .derived import DERIVED

    derived = [Feature(name, "derived", "none") for name in DERIVED]
    chosen = derived if mode == "derived" else raw.features + derived
    return FeatureSet(chosen, raw.source), spec


def needs_derived(features: FeatureSet) -> bool:
    return any(f.role == "derived" for f in features.features)
