"""Transfer learning between kernels and across sample sets.

Features line up by role: architecture parameters and derived (workload-aware) features by
name (the cache is the same cache), workload parameters by position (k-means' ``objects``
takes the place of matmul's ``n``).
``--freeze conv`` keeps exactly the convolutional layers of the source model and retrains
the dense head; ``--freeze none`` warm-starts every layer.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DataError
from .features import Feature, FeatureSet


def align(source: FeatureSet, target: FeatureSet, where: Path) -> tuple[FeatureSet, np.ndarray]:
    """Target features in the source model's order, and the column order that gives it."""
    if source.names == target.names:
        return target, np.arange(len(target.names))
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
        order.append(i)
        aligned.append(Feature(target.features[i].name, target.features[i].role,
                               target.features[i].transform))
    extra = set(range(len(target.features))) - set(order)
    if extra:
        names = ", ".join(target.features[i].name for i in sorted(extra))
        raise DataError(f"--from {where}: parameters {names} have no counterpart in the source "
                        f"model ({', '.join(source.names)})")
    return FeatureSet(aligned, target.source), np.array(order)


def prepare_transfer(source, target: FeatureSet, args):
    """(model ready to fit, keep the source's input scaling?, transfer record)."""
    from .models.cnn import CNN, conv_layers

    model = getattr(source.model, "inner", source.model)  # a residual CNN's network
    if not isinstance(model, CNN):
        raise DataError(f"--from {args.source}: not a CNN bundle ({source.meta.get('model')}); "
                        "transfer learning needs the CNN")
    model.epochs, model.patience, model.batch_size = args.epochs, args.patience, args.batch_size
    model.learning_rate, model.seed, model.progress = args.learning_rate, args.seed, not args.quiet
    frozen = []
    if args.freeze == "conv":
        for layer in conv_layers(model.model):
            layer.trainable = False
            frozen.append(layer.name)
    model.compile()  # a change of trainable layers takes effect at compile
    same_features = [f["name"] for f in source.meta["features"]] == target.names
    record = {"source": str(args.source), "source_tabular": source.meta.get("tabular"),
              "freeze": args.freeze, "frozen_layers": frozen,
              "input_scaling": "source's" if same_features else "refitted on this data"}
    return model, same_features, record
