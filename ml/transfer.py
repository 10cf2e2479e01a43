"""Transfer learning between kernels and across sample sets.

Features line up by role: architecture parameters and derived features by name (the same
hardware, the same family's estimates), workload parameters by position (one kernel's size
parameter takes the place of another's).
``--freeze conv`` keeps exactly the convolutional layers of the source model and retrains
the dense head; ``--freeze none`` warm-starts every layer.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DataError
from .features import FeatureSet


def _columns(features: FeatureSet, order: list[int]) -> np.ndarray:
    """Model-input column order of the features in ``order`` (a one-hot feature moves as a
    block of its columns)."""
    starts = np.cumsum([0] + [f.width for f in features.features])
    return np.concatenate([np.arange(starts[i], starts[i + 1]) for i in order])


def align(source: FeatureSet, target: FeatureSet, where: Path) -> tuple[FeatureSet, np.ndarray]:
    """Target features in the source model's order, and the model-input column order that
    gives it."""
    if source.names == target.names:
        return target, np.arange(len(target.columns))
    by_name = {f.name: i for i, f in enumerate(target.features)}
    target_workload = [i for i, f in enumerate(target.features) if f.role == "workload"]
    source_workload = [f for f in source.features if f.role == "workload"]
    if any(f.role == "unknown" for f in source.features + target.features):
        raise DataError(f"--from {where}: features differ ({', '.join(source.names)} vs "
                        f"{', '.join(target.names)}) and their roles are unknown; pass --spec "
                        "so that they can line up by role")
    if len(source_workload) != len(target_workload):
        raise DataError(f"--from {where}: the source model has {len(source_workload)} workload "
                        f"parameter(s), this study {len(target_workload)}; they line up by "
                        "position and must be as many")
    order, aligned, k = [], [], 0
    for f in source.features:
        if f.role in ("architecture", "derived"):  # the same cache, the same estimates
            if f.name not in by_name or target.features[by_name[f.name]].role != f.role:
                raise DataError(f"--from {where}: {f.role} parameter {f.name!r} of the "
                                f"source model is not an {f.role} parameter here "
                                f"({', '.join(target.names)})")
            i = by_name[f.name]
        else:
            i = target_workload[k]
            k += 1
        if target.features[i].width != f.width:
            raise DataError(f"--from {where}: {f.name} of the source model takes {f.width} "
                            f"input column(s), {target.features[i].name} here "
                            f"{target.features[i].width}; they cannot line up")
        order.append(i)
        aligned.append(target.features[i])
    extra = set(range(len(target.features))) - set(order)
    if extra:
        names = ", ".join(target.features[i].name for i in sorted(extra))
        raise DataError(f"--from {where}: parameters {names} have no counterpart in the source "
                        f"model ({', '.join(source.names)})")
    return FeatureSet(aligned, target.source), _columns(target, order)


def prepare_transfer(source, target: FeatureSet, where: Path, freeze: str, params: dict):
    """(model ready to fit, keep the source's input scaling?, transfer record).

    ``source``: the source bundle (its CNN is retrained in place); ``params``: the CNN's
    training hyperparameters (its constructor's keyword arguments; the shape, and with it
    any architecture option, is the source's)."""
    from .models.cnn import ARCHITECTURE, CNN

    model = getattr(source.model, "inner", source.model)  # a residual CNN's network
    if hasattr(model, "networks"):
        raise DataError(f"--from {where}: an ensemble of {len(model.networks)} CNNs; "
                        "transfer starts from one network (train the source with --members 1)")
    if not isinstance(model, CNN):
        raise DataError(f"--from {where}: not a CNN bundle ({source.meta.get('model')}); "
                        "transfer learning needs the CNN")
    training = {k: v for k, v in params.items() if k not in ARCHITECTURE + ("members",)}
    frozen = model.transfer(freeze, **training)
    same_features = [f["name"] for f in source.meta["features"]] == target.names
    record = {"source": str(where), "source_tabular": source.meta.get("tabular"),
              "freeze": freeze, "frozen_layers": frozen, "loss": model.loss,
              "weight_decay": model.weight_decay, "lr_decay": model.lr_decay,
              "input_scaling": "source's" if same_features else "refitted on this data"}
    return model, same_features, record
