"""One contract suite, run against every design-space family (driver/families/)."""
from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import SHIPPED_SPECS
from driver.families import Family, available, family_class
from driver.spec import load_spec
from ml import space

FAMILIES = available()
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def specs_of(family: str) -> list:
    """Loaded shipped specs whose backend belongs to ``family`` (at least one spec: a
    family no shipped backend uses answers for the first shipped spec)."""
    specs = [load_spec(p, backend=False) for p in SHIPPED_SPECS]
    own = [s for s in specs if s.backend_class.family == family]
    return own or specs[:1]


def sample(spec, count: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    index = rng.choice(space.size(spec), size=min(count, space.size(spec)), replace=False)
    return space.decode(spec, list(spec.names), index)


def test_families_are_discovered():
    assert {"cache", "generic"} <= set(FAMILIES)


@pytest.mark.parametrize("name", FAMILIES)
def test_declares_the_contract(name):
    cls = family_class(name)
    assert issubclass(cls, Family) and cls.name == name
    assert all(NAME.match(word) for word in cls.vocabulary)
    assert all(isinstance(text, str) and text for text in cls.vocabulary.values())


@pytest.mark.parametrize("name", FAMILIES)
def test_answers_for_its_specs(name):
    for spec in specs_of(name):
        family = family_class(name)(spec)
        derived = family.derived_names()
        assert len(set(derived)) == len(derived)
        assert not set(derived) & set(spec.names)
        estimate = family.estimate_column(spec.objective)
        assert estimate is None or estimate in derived
        assert family.estimate_column("no_such_response") is None
        axes = family.cost_axes()
        assert all(NAME.match(a) and isinstance(u, str) for a, u in axes.items())
        frame = sample(spec)
        costs = family.costs(frame)
        assert list(costs.columns) == list(axes) and costs.index.equals(frame.index)
        values = costs.to_numpy(dtype=float)
        assert np.isfinite(values).all() and (values >= 0).all()


@pytest.mark.parametrize("name", FAMILIES)
def test_derives_features_without_evaluating(name, native_built):
    for spec in specs_of(name):
        if spec.backend_class.family != name:
            continue
        resolved = load_spec(spec.spec_path)
        family = resolved.family
        if not family.derived_names():
            continue
        small = resolved.evolve(parameters=tuple(  # the cheapest workload: one profile
            p.evolve(values=(min(p.values),)) if p.role == "workload" else p
            for p in resolved.parameters))
        frame = sample(small, 20)
        out = family.add_derived(frame)
        assert list(out.columns) == list(frame.columns) + list(family.derived_names())
        assert np.isfinite(out[list(family.derived_names())].to_numpy(dtype=float)).all()
        return  # one spec per family is enough: profiling costs seconds
