"""What a model fits: ln(objective), the objective, or its correction to the family's
analytic estimate (residual), and where that estimate is among the model's columns."""
from __future__ import annotations

from ..errors import DataError
from ..features import FeatureSet


def resolve_target(requested: str, features: FeatureSet, estimate: str | None) -> str:
    """The --target to use: auto means residual when the features carry the estimate
    (``estimate``: the family's estimate column for the response, or None)."""
    has_estimate = estimate is not None and estimate in features.names
    if requested == "auto":
        return "residual" if has_estimate else "log"
    if requested == "residual" and not has_estimate:
        raise DataError("--target residual: the model needs the family's analytic estimate "
                        "of the response among its features; use --features derived or both "
                        "with a spec whose family has one")
    return requested


def residual_column(features: FeatureSet, target: str, estimate: str | None) -> int | None:
    """The model-input column of the estimate for the residual target (``features`` in
    the model's column order), else None."""
    if target != "residual":
        return None
    if estimate is None:  # as column_index raises for a name no feature has
        raise KeyError(estimate)
    return features.column_index(estimate)
