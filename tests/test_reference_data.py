"""Cache counts depend on the design point alone: not on the checkout's location, the run
directory or its file system (the guest sees the program's real path and its stdout)."""
from __future__ import annotations

import shutil

import pytest

from conftest import ROOT
from driver.families.cache.backends import qemu_riscv
from driver.spec import load_spec

POINTS = ({"l1d_size_kib": 32, "l1d_ways": 1, "l1i_size_kib": 1, "l1i_ways": 1,
           "l2_size_kib": 4, "l2_ways": 2, "line_bytes": 16, "objects": 100},
          {"l1d_size_kib": 4, "l1d_ways": 4, "l1i_size_kib": 8, "l1i_ways": 2,
           "l2_size_kib": 256, "l2_ways": 8, "line_bytes": 64, "objects": 5000})


def test_counts_do_not_depend_on_where_the_program_lives(tmp_path, native_built):
    spec = load_spec(ROOT / "dakota_inputs" / "kmeans.yaml")
    settings = spec.settings
    counts = []
    for place in (tmp_path / "a", tmp_path / ("checkout-with-a-much-longer-path" * 3) / "b"):
        place.mkdir(parents=True)
        program = shutil.copy(settings["program"], place / "kmeans")
        backend = qemu_riscv.Backend({**settings, "program": str(program)}, timeout_s=120)
        runs = []
        for number, point in enumerate(POINTS):
            work = place / f"eval{number}"
            work.mkdir()
            runs.append(backend.evaluate(point, work))
        counts.append(runs)
    assert counts[0] == counts[1]


# Every reference file re-simulates to exactly its committed counts (data/reference/README.md).
REPRODUCED = ("kmeans", "matmul", "nw", "backprop", "stencil")
COUNTS = ("cycles", "instructions", "l1i_misses", "l1d_misses", "l1d_writebacks",
          "l2_misses", "l2_writebacks")


@pytest.mark.parametrize("kernel", REPRODUCED)
def test_committed_reference_points_simulate_again_to_the_same_counts(kernel, tmp_path,
                                                                      native_built):
    from ml.data import read_table

    spec = load_spec(ROOT / "dakota_inputs" / "reference" / f"{kernel}.yaml")
    frame = read_table(ROOT / "data" / "reference" / f"{kernel}.tabular.dat.gz",
                       "cycles").frame
    backend = qemu_riscv.Backend(spec.settings, timeout_s=120)
    names = list(spec.names)
    for number in (0, len(frame) // 2, len(frame) - 1):
        row = frame.iloc[number]
        work = tmp_path / str(number)
        work.mkdir()
        got = backend.evaluate({n: int(row[n]) for n in names}, work)
        assert {c: got[c] for c in COUNTS} == {c: row[c] for c in COUNTS}, number
