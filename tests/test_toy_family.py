"""The README's "Adding a family" and "Adding a backend", followed from scratch: a toy
family written into a fresh folder, registered with one line, and a real Dakota study run
over it through the study API; a second backend added by one more file in its folder."""
from __future__ import annotations

import sys
import textwrap
import uuid

import pytest

from driver.errors import SpecError
from driver.families import FAMILIES, available_backends, backend_class, family_class
from driver.spec import load_spec
from driver.study import Study
from driver.tabular import read_tabular

FAMILY = '''
from driver.errors import SpecError
from driver.families.base import Family as _Base


class Family(_Base):
    name = "toy"
    vocabulary = {"x": "distance along the toy axis (m)", "y": "toy height (m)"}
    settings_properties = {"offset": {"type": "number", "default": 0}}

    @classmethod
    def resolve(cls, spec, settings, where, spec_dir):
        low = min(spec.parameter("y").values)
        if low < 0:
            raise SpecError(f"{where}: parameters.y: {low} is below 0; allowed: heights >= 0")

    def cost_axes(self):
        return {"x": "m"}

    def costs(self, frame):
        import pandas as pd

        return pd.DataFrame({"x": frame["x"].astype(float)}, index=frame.index)
'''

SQUARE = '''
from driver.families.backend import Backend as _Base


class Backend(_Base):
    name = "toy_square"
    family = "toy"
    in_process = True
    settings_properties = {"scale": {"type": "number", "default": 1}}
    response_names = ("value",)
    objectives = ("value",)

    def evaluate(self, point, workdir):
        s = self.settings
        return {"value": s["scale"] * point["x"] ** 2 + point["y"] + s["offset"] + 1}
'''

CUBE = SQUARE.replace("toy_square", "toy_cube").replace("** 2", "** 3")


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The toy family's package on the path and its one registry line (a package name of
    its own per test: Python keeps an imported package for the rest of the session)."""
    name = f"toyfam_{uuid.uuid4().hex[:8]}"
    package = tmp_path / name
    (package / "backends").mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(FAMILY))
    (package / "backends" / "toy_square.py").write_text(textwrap.dedent(SQUARE))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(FAMILIES, "toy", name)
    yield package
    for module in [m for m in sys.modules if m.split(".")[0] == name]:
        del sys.modules[module]


def spec_text(y_values="[0, 1, 2]") -> str:
    return textwrap.dedent(f"""\
        study: toy
        parameters:
          - {{name: x, role: architecture, values: [1, 2, 3, 4]}}
          - {{name: y, role: architecture, values: {y_values}}}
        backend: {{name: toy_square, settings: {{offset: 10, scale: 2}}}}
        sampling: {{method: grid}}
        execution: {{interface: python, concurrency: 1, timeout_s: 30}}
        """)


def test_a_new_family_runs_a_real_study(toy, tmp_path):
    assert available_backends()["toy_square"] == "toy"
    assert family_class("toy").backends() == ["toy_square"]
    path = tmp_path / "toy.yaml"
    path.write_text(spec_text())
    spec = load_spec(path)
    assert spec.objective == "value" and spec.settings["offset"] == 10
    assert spec.family.name == "toy" and spec.backend_class.name == "toy_square"

    study = Study.render(path, tmp_path / "run")
    assert study.run(quiet=True) == 0
    _, rows = read_tabular(study.tabular)
    assert len(rows) == 12  # the whole 4 x 3 grid, once each
    for row in rows:
        assert row["value"] == 2 * row["x"] ** 2 + row["y"] + 10 + 1
    assert "done 12, failed 0" in study.status()


def test_the_family_checks_and_settings_schema_apply(toy, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(spec_text("[-1, 0]"))
    with pytest.raises(SpecError, match=r"bad.yaml: parameters.y: -1 is below 0"):
        load_spec(path)
    path.write_text(spec_text().replace("scale: 2", "scael: 2"))
    with pytest.raises(SpecError, match=r"backend.settings: .*'scael'"):
        load_spec(path)
    path.write_text(spec_text().replace("name: x,", "name: z,"))
    with pytest.raises(SpecError, match=r"does not consume a parameter 'z'; allowed: x, y"):
        load_spec(path)


def test_a_second_backend_is_one_file_in_the_family_folder(toy, tmp_path):
    (toy / "backends" / "toy_cube.py").write_text(textwrap.dedent(CUBE))
    assert family_class("toy").backends() == ["toy_cube", "toy_square"]
    assert backend_class("toy_cube")({"scale": 1, "offset": 0}).evaluate(
        {"x": 2, "y": 0}, tmp_path) == {"value": 9}
    path = tmp_path / "cube.yaml"
    path.write_text(spec_text().replace("toy_square", "toy_cube"))
    assert load_spec(path).backend_name == "toy_cube"
