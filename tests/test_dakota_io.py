"""Dakota parameters/results files, checked against files written by the real dakota."""
from __future__ import annotations

import math
import subprocess
import textwrap
from pathlib import Path

import pytest

from driver import dakota_io
from driver.study import dakota_executable

RECORDER = textwrap.dedent("""\
    import shutil, sys, pathlib
    from driver import dakota_io
    params, results = sys.argv[1], sys.argv[2]
    evaluations = dakota_io.read_parameters(pathlib.Path(params))
    keep = pathlib.Path({keep!r})
    keep.mkdir(exist_ok=True)
    shutil.copy(params, keep / ("params." + evaluations[0].eval_id.replace(":", "_")))
    blocks = [None if e.number == 3 else
              {{"cycles": 1000.0 * e.variables["size"] + e.variables["alpha"], "extra": 7.0}}
              for e in evaluations]
    batch = ":" in evaluations[0].eval_id
    dakota_io.write_results(pathlib.Path(results), blocks, evaluations[0].responses, batch)
""")


def run_dakota(tmp_path: Path, file_format: str, batch: int) -> tuple[Path, Path]:
    keep = tmp_path / "params"
    (tmp_path / "recorder.py").write_text(RECORDER.format(keep=str(keep)))
    import sys
    deck = f"""
environment
  tabular_data
    tabular_data_file = 'tab.dat'
method
  sampling
    sample_type random
    samples = 5
    seed = 3
variables
  active all
  discrete_design_set
    integer = 1
      num_set_values = 3
      set_values = 1 2 4
      descriptors = 'size'
    real = 1
      num_set_values = 2
      set_values = 0.25 0.5
      descriptors = 'alpha'
interface
  fork
    analysis_drivers = '{sys.executable} {tmp_path / "recorder.py"}'
    parameters_file = 'params.in'
    results_file = 'results.out'
    {file_format}
    work_directory named 'evals/eval' directory_tag directory_save
  {"batch size = %d" % batch if batch > 1 else ""}
  failure_capture recover NaN NaN
responses
  response_functions = 2
  descriptors 'cycles' 'extra'
  no_gradients
  no_hessians
"""
    (tmp_path / "t.in").write_text(deck)
    proc = subprocess.run([dakota_executable(), "-i", "t.in"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return keep, tmp_path / "tab.dat"


@pytest.mark.parametrize("file_format,batch", [("", 1), ("aprepro", 1), ("", 2)])
def test_real_dakota_round_trip(tmp_path, file_format, batch):
    from driver.tabular import read_tabular

    keep, tab = run_dakota(tmp_path, file_format, batch)
    evaluations = [e for f in sorted(keep.iterdir()) for e in dakota_io.read_parameters(f)]
    assert sorted(e.number for e in evaluations) == [1, 2, 3, 4, 5]
    for e in evaluations:
        assert e.responses == ["cycles", "extra"]
        assert e.active_set == [1, 1]
        assert isinstance(e.variables["size"], int) and e.variables["size"] in (1, 2, 4)
        assert e.variables["alpha"] in (0.25, 0.5)
        if batch > 1:
            assert ":" in e.eval_id
    _, rows = read_tabular(tab)
    assert len(rows) == 5
    for row in rows:
        if row["eval_id"] == 3:  # written as FAIL, recovered as NaN by Dakota
            assert math.isnan(row["cycles"])
        else:
            assert row["cycles"] == 1000.0 * row["size"] + row["alpha"]


def test_results_format_fail_and_batch_separator():
    text = dakota_io.format_results([{"cycles": 12.5}, None], ["cycles"])
    assert text == "12.5 cycles\n#\nFAIL\n"
    text = dakota_io.format_results([None, {"cycles": 3.0, "x": 1.0}], ["cycles", "x"], batch=True)
    assert text == "nan cycles\nnan x\n#\n3.0 cycles\n1.0 x\n"


@pytest.mark.parametrize("text", ["", "3 variables\n1 a\n", "garbage here and more\n"])
def test_malformed_parameters_rejected(text):
    with pytest.raises(dakota_io.ParametersFileError):
        dakota_io.parse_parameters(text)
