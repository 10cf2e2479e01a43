"""Which columns a model sees, in which order, and how each is transformed.

Taken from the study spec (parameter names, types, roles and ``transform``) or, without
one, from the tabular header: the columns between the leading ``eval_id interface`` and the
response column (Dakota writes variables before responses). Numbers enter as they are or
as log2; a categorical parameter enters one-hot (a 0/1 column per value, in sorted order)
or ordinal (its index among the sorted values). Derived features (role ``derived``) are
what the study's design-space family computes for a point without evaluating it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from driver.resolved import ResolvedSpec

from .errors import DataError

ROLES = ("architecture", "workload", "derived", "unknown")
FEATURE_MODES = ("raw", "derived", "both")
# ml.train's and ml.explore's default: both where the study's family derives features
# (the best measured, bench/results/features.md), else raw.
DEFAULT_MODE = "auto"


@dataclass(frozen=True)
class Feature:
    name: str
    role: str        # architecture | workload | derived | unknown (no spec)
    transform: str   # none | log2 (numbers); onehot | ordinal (categories)
    categories: tuple[str, ...] = field(default=())  # sorted values of a categorical

    @property
    def width(self) -> int:
        """Model-input columns this feature takes."""
        return len(self.categories) if self.transform == "onehot" else 1

    @property
    def columns(self) -> list[str]:
        if self.transform == "onehot":
            return [f"{self.name}={c}" for c in self.categories]
        return [self.name]

    def encode(self, values: np.ndarray, where: str) -> np.ndarray:
        """Model-input columns of this feature, shape (rows, width)."""
        if self.categories:
            index = pd.Categorical(values, categories=list(self.categories)).codes
            if (index < 0).any():
                bad = values[index < 0][0]
                raise DataError(f"{where}: column {self.name}: {bad!r} is not one of the "
                                f"model's values {', '.join(self.categories)}")
            if self.transform == "ordinal":
                return index.astype(float)[:, None]
            return np.eye(len(self.categories))[index]
        try:
            numbers = np.asarray(values, dtype=float)
        except ValueError:
            raise DataError(f"{where}: column {self.name}: not numbers (a categorical "
                            "parameter needs a spec that says so)") from None
        if self.transform == "log2":
            if (numbers <= 0).any() or np.isnan(numbers).any():
                raise DataError(f"{where}: column {self.name}: log2 transform needs positive "
                                "values; found zero, negative or missing ones")
            numbers = np.log2(numbers)
        return numbers[:, None]


def auto_transform(values) -> str:
    """log2 for positive values spanning a factor of 4 or more (sizes, counts)."""
    values = np.asarray(values, dtype=float)
    if values.size and values.min() > 0 and values.max() / values.min() >= 4:
        return "log2"
    return "none"


class FeatureSet:
    """Ordered features; ``matrix`` turns a frame into model input of shape (rows, width)."""

    def __init__(self, features: list[Feature], source: str):
        self.features = list(features)
        self.source = source  # the spec file or "header of <file>"

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def columns(self) -> list[str]:
        """Names of the model-input columns (a one-hot feature has one per value)."""
        return [c for f in self.features for c in f.columns]

    def of_role(self, role: str) -> list[Feature]:
        return [f for f in self.features if f.role == role]

    def column_index(self, name: str) -> int:
        """Model-input column of a one-column feature."""
        start = 0
        for f in self.features:
            if f.name == name:
                return start
            start += f.width
        raise KeyError(name)

    def matrix(self, frame: pd.DataFrame, where: str) -> np.ndarray:
        missing = [n for n in self.names if n not in frame.columns]
        if missing:
            raise DataError(f"{where}: missing feature column(s) {', '.join(missing)} "
                            f"(features from {self.source}: {', '.join(self.names)})")
        parts = [f.encode(frame[f.name].to_numpy(), where) for f in self.features]
        return np.hstack(parts).astype(np.float32)

    def to_json(self) -> list[dict]:
        out = []
        for f in self.features:
            item = asdict(f)
            if not f.categories:
                del item["categories"]  # bundles of numeric features read as before
            else:
                item["categories"] = list(f.categories)
            out.append(item)
        return out

    @classmethod
    def from_json(cls, items: list[dict], source: str) -> FeatureSet:
        return cls([Feature(**{**item, "categories": tuple(item.get("categories", ()))})
                    for item in items], source)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()[:16]


def from_spec(spec: ResolvedSpec) -> FeatureSet:
    features = []
    for p in spec.parameters:
        transform = p.transform
        if p.categorical:
            features.append(Feature(p.name, p.role,
                                    "onehot" if transform == "auto" else transform,
                                    tuple(sorted(p.values))))
            continue
        if transform == "auto":
            transform = auto_transform(list(p.values))
        features.append(Feature(p.name, p.role, transform))
    return FeatureSet(features, spec.spec_path)


def from_header(frame: pd.DataFrame, response: str, path: Path) -> FeatureSet:
    columns = [c for c in frame.columns if c not in ("eval_id", "interface")]
    variables = columns[:columns.index(response)]
    if not variables:
        raise DataError(f"{path}: no feature columns before the response column {response!r}; "
                        "pass --spec to name the features")
    features = []
    for c in variables:
        if pd.api.types.is_numeric_dtype(frame[c]):
            features.append(Feature(c, "unknown", auto_transform(frame[c])))
        else:  # words: a categorical parameter, its values as found in the data
            features.append(Feature(c, "unknown", "onehot",
                                    tuple(sorted(frame[c].astype(str).unique()))))
    return FeatureSet(features, f"header of {path}")


def family_of(spec: ResolvedSpec):
    """The design-space family of a loaded spec (:mod:`driver.families`)."""
    from driver.errors import SpecError

    try:
        return spec.family
    except SpecError as err:
        raise DataError(f"{spec.spec_path}: {err}") from None


def load(path: Path, backend: bool = False) -> ResolvedSpec:
    """A study spec, validated as the study itself validates it (one-line DataError). A
    run directory's ``spec.resolved.json`` (JSON) was validated at render and is taken as
    it is."""
    from driver.errors import SpecError
    from driver.rundir import read_resolved
    from driver.spec import load_spec

    path = Path(path)
    try:
        if path.suffix == ".json":
            return read_resolved(path)
        return load_spec(path, backend=backend)
    except SpecError as err:
        raise DataError(str(err)) from None


def resolve_mode(requested: str, spec_path: Path | None) -> str:
    """--features auto: both when the spec's family derives features, raw otherwise."""
    if requested != "auto":
        return requested
    if spec_path is None:
        return "raw"
    return "both" if family_of(load(spec_path)).derived_names() else "raw"


def load_spec_features(path: Path, mode: str = "raw",
                       backend: bool = False) -> tuple[FeatureSet, ResolvedSpec]:
    """Features of a study spec file, validated as the study itself validates it.

    ``mode``: raw (the spec's parameters), derived (the features the spec's family derives
    for a point without evaluating it) or both. Derived features need the backend part of
    the spec (e.g. the program to profile), so the spec is then loaded with its backend
    checks (as it is with ``backend=True``, for tools that also run the study)."""
    spec = load(path, backend=backend or mode != "raw")
    raw = from_spec(spec)
    if mode == "raw":
        return raw, spec
    family = family_of(spec)
    names = family.derived_names()
    if not names:
        raise DataError(f"--features {mode}: the {family.name} family derives no "
                        f"features for {path}; use --features raw")
    sets = family.derived_sets()
    if mode not in FEATURE_MODES and mode not in sets:
        raise DataError(f"--features {mode!r}: allowed: auto, {', '.join(FEATURE_MODES)}"
                        + "".join(f", {name}" for name in sets))
    names = sets.get(mode, names)
    derived = [Feature(name, "derived", "none") for name in names]
    chosen = derived if mode == "derived" else described(spec).features + derived
    return FeatureSet(chosen, raw.source), spec


def described(spec: ResolvedSpec) -> FeatureSet:
    """The spec's parameters that describe a design beside derived features: identifiers
    (e.g. a schedule id) name a point, and its derived features describe it."""
    raw = from_spec(spec)
    named = family_of(spec).identifiers
    return FeatureSet([f for f in raw.features if f.name not in named], raw.source)


def needs_derived(features: FeatureSet) -> bool:
    return any(f.role == "derived" for f in features.features)


def add_derived(frame: pd.DataFrame, spec: ResolvedSpec) -> pd.DataFrame:
    """``frame`` with the family's derived feature columns (one-line DataError if not)."""
    from driver.errors import EvaluationFailed, SpecError

    try:
        return family_of(spec).add_derived(frame)
    except (SpecError, EvaluationFailed) as err:
        raise DataError(str(err)) from None
