"""One contract suite, run against every simulator backend module."""
from __future__ import annotations

import math

import jsonschema
import pytest

from conftest import SHIPPED_SPECS
from driver.families import Backend, Family, available_backends, backend_class, family_class
from driver.spec import load_spec

BACKENDS = sorted(available_backends())


def shipped_spec_for(name: str):
    for path in SHIPPED_SPECS:
        if f"name: {name}" in path.read_text():
            return path
    return None


def test_backends_are_discovered():
    assert "qemu_riscv" in BACKENDS


@pytest.mark.parametrize("name", BACKENDS)
def test_declares_the_contract(name):
    cls = backend_class(name)
    assert issubclass(cls, Backend) and cls.name == name
    assert cls.objectives and set(cls.objectives) <= set(cls.response_names)
    assert set(cls.response_kinds) <= set(cls.response_names)
    assert set(cls.response_kinds.values()) <= {"binary"}
    assert len(set(cls.response_names)) == len(cls.response_names)
    family = family_class(cls.family)
    assert issubclass(family, Family) and available_backends()[name] == cls.family
    assert name in family.backends()
    schema = family.settings_schema(cls)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema.get("additionalProperties") is False  # typos are errors


@pytest.mark.parametrize("name", BACKENDS)
def test_ships_a_spec_that_loads(name):
    path = shipped_spec_for(name)
    assert path is not None, f"no dakota_inputs/*.yaml uses backend {name}"
    spec = load_spec(path)
    assert spec.backend_name == name and spec.backend_class is backend_class(name)
    assert spec.objective == backend_class(name).objectives[0]
    # Every swept parameter means something to the backend (a typo is refused at load).
    family = family_class(backend_class(name).family)
    assert spec.family_class is family
    assert set(spec.names) <= family.consumed_parameters(spec)


@pytest.mark.parametrize("name", BACKENDS)
def test_evaluates_one_point(name, native_built, tmp_path):
    spec = load_spec(shipped_spec_for(name))
    cls = backend_class(name)
    reason = cls.unavailable_reason(spec.settings)
    if reason:
        pytest.skip(f"{name} cannot run here: {reason}")
    point = {p.name: min(p.values) for p in spec.parameters}
    responses = cls(spec.settings, timeout_s=300).evaluate(point, tmp_path)
    assert set(responses) >= set(cls.response_names)
    objective = cls.objectives[0]
    assert math.isfinite(responses[objective]) and responses[objective] > 0
