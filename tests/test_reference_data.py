"""The committed reference data reproduce exactly when re-simulated on this machine.

The data were simulated on another machine; equal counters here show that a design point's
counts depend on the point alone (not on the host's file systems or paths).
"""
from __future__ import annotations

import pytest

from conftest import ROOT
from driver.backends import qemu_riscv
from driver.spec import load_spec
from ml.data import read_table

KERNELS = ("kmeans", "matmul", "nw", "backprop")


def reference_rows(kernel: str, spec: dict):
    frame = read_table(ROOT / "data" / "reference" / f"{kernel}.tabular.dat.gz").frame
    workload = next(p["name"] for p in spec["parameters"] if p["role"] == "workload")
    sizes = sorted(frame[workload].unique())
    # The smallest size (data on the heap) and a middle one (large arrays via mmap).
    picks = [frame[frame[workload] == sizes[0]].iloc[0],
             frame[frame[workload] == sizes[len(sizes) // 2]].iloc[0]]
    return picks


@pytest.mark.parametrize("kernel", KERNELS)
def test_reference_points_reproduce_exactly(kernel, tmp_path, native_built):
    spec = load_spec(ROOT / "dakota_inputs" / "reference" / f"{kernel}.yaml")
    backend = qemu_riscv.Backend(spec["backend"]["settings"], timeout_s=120)
    names = [p["name"] for p in spec["parameters"]]
    for number, row in enumerate(reference_rows(kernel, spec)):
        point = {name: int(row[name]) for name in names}
        work = tmp_path / str(number)
        work.mkdir()
        counters = backend.evaluate(point, work)
        assert {k: counters[k] for k in qemu_riscv.COUNTERS} == \
            {k: float(row[k]) for k in qemu_riscv.COUNTERS}, point
