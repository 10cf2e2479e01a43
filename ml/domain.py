"""The domain a model was trained on, and whether the points it is asked about lie in it.

A bundle records its study's parameters (names, types, roles, values). A prediction is
refused, with one line, for a categorical value the model never saw, a number outside the
range it was trained on (unless the user asks to extrapolate), and a point that is no
design at all (the study's family says which: e.g. a 3 KiB L1D with 2 ways and 64 B lines).
Numbers between trained values are allowed: that is what a surrogate is for.
"""
from __future__ import annotations

import pandas as pd

from .errors import DataError

TYPE_CHECKING = False  # annotations only
if TYPE_CHECKING:
    from driver.resolved import ResolvedSpec

MAX_CHECKED_DESIGNS = 20_000  # distinct points the family checks one by one


def trained_parameters(spec: ResolvedSpec | None) -> list[dict] | None:
    """What a bundle keeps of its study's parameters (None: features from a header)."""
    if spec is None:
        return None
    return [{"name": p.name, "type": p.kind, "role": p.role, "values": list(p.values)}
            for p in spec.parameters]


def _outside(parameter: dict, values) -> object | None:
    """The first of ``values`` outside what ``parameter`` was trained on, else None."""
    trained = parameter["values"]
    if parameter.get("type") == "categorical":
        return next((v for v in values if str(v) not in map(str, trained)), None)
    low, high = min(trained), max(trained)
    return next((v for v in values if not (low <= float(v) <= high)), None)


def _describe(parameter: dict) -> str:
    trained = parameter["values"]
    if parameter.get("type") == "categorical":
        return f"one of {', '.join(map(str, trained))}"
    return f"in {min(trained):g}..{max(trained):g}"


def check_values(trained: list[dict] | None, values: dict[str, list], where: str,
                 extrapolate: bool) -> None:
    """``values``: parameter name -> the values to predict at."""
    for parameter in trained or ():
        given = values.get(parameter["name"])
        if given is None:
            continue
        if parameter.get("type") != "categorical" and extrapolate:
            continue
        bad = _outside(parameter, given)
        if bad is not None:
            hint = "" if parameter.get("type") == "categorical" else \
                "; --extrapolate predicts there anyway"
            raise DataError(f"{where}: {parameter['name']} = {_plain(bad)}: the model was "
                            f"trained on {parameter['name']} {_describe(parameter)}{hint}")


def check_designs(frame: pd.DataFrame, spec: ResolvedSpec, where: str) -> None:
    """Every distinct point of ``frame`` (a column per parameter of ``spec``) must be a
    design the spec's family can build; a one-line DataError names the first that is not."""
    from driver.errors import SpecError

    family = spec.family
    names = list(spec.names)
    distinct = frame[names].drop_duplicates().head(MAX_CHECKED_DESIGNS)
    for row_number, row in zip(distinct.index, distinct.itertuples(index=False), strict=True):
        parameters = tuple(p.evolve(values=(_plain(value),))
                           for p, value in zip(spec.parameters, row, strict=True))
        try:
            family.check(spec.evolve(parameters=parameters), family.fixed(), where)
        except SpecError as err:
            reason = str(err).split(": ", 2)[-1]
            raise DataError(f"{where}: row {row_number + 2}: not a design of "
                            f"{spec.spec_path}: {reason}") from None


def _plain(value):
    """A point's value as the spec has it: 3.0 read from a CSV is the integer 3."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
