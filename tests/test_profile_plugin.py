"""Tests of the stack-distance profiling plugin (build/plugins/libprofile.so).

The profile of one run must give, for every geometry of the design space,
exactly the L1 miss counts and L1D write-backs that the cache simulator
(libcachesim.so) computes for that geometry.

Why this is exact and not an estimate:
  * cachesim's L1I sees every instruction fetch and its L1D every memory
    operation, at guest virtual addresses, independent of the rest of the
    hierarchy (L2 and write-backs never feed back into L1 state). The
    profile's "instr" and "data" streams are the same two access sequences.
  * both use true LRU with bit-selection set indexing (line mod sets). For
    LRU, a cache with W ways hits an access iff the line is among the W most
    recently used distinct lines of its set, i.e. iff its stack distance is
    <= W (the LRU stack / inclusion property, Mattson et al. 1970). So
    misses(L, S, W) = accesses - sum_{d<=W} hist[d] exactly, for every
    W <= max_ways; cold misses are in the "beyond" bucket.
  * both runs use the same guest binary, argv (a symlink named `program`
    in the working directory, qemu -0 program), an empty environment and
    the same working directory, so guest addresses are identical.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
CACHESIM = BUILD / "plugins" / "libcachesim.so"
PROFILE = BUILD / "plugins" / "libprofile.so"
KERNEL_DIR = BUILD / "kernels"
QEMU = shutil.which("qemu-riscv64")
TIMEOUT = 120
MAX_WAYS = 8

# (kernel, size): small inputs, each run well under a second.
WORKLOADS = [("matmul", 16), ("matmul", 24), ("nw", 128), ("stencil", 48)]

# (line, (l1i size, ways), (l1d size, ways)): cachesim shares the line size
# between L1I and L1D; I and D geometries differ to cover more per run.
GEOMETRIES = [
    (16, (1024, 2), (1024, 2)),          # 32 sets
    (32, (4096, 4), (4096, 4)),          # 32 sets
    (64, (8192, 8), (8192, 8)),          # 16 sets, ways = max_ways
    (64, (512, 8), (512, 8)),            # fully associative (1 set)
    (16, (128, 8), (256, 1)),            # fully assoc. I; D direct mapped
    (32, (256, 8), (2048, 1)),           # fully assoc. I; D direct mapped
    (16, (131072, 1), (65536, 8)),       # I direct mapped, 8192 sets (max)
    (64, (32768, 8), (262144, 8)),       # D 256 KiB: 512 sets
    (32, (3072, 3), (6144, 3)),          # non-power-of-two ways
]


@pytest.fixture(scope="session")
def built():
    if QEMU is None:
        pytest.skip("qemu-riscv64 not installed")
    proc = subprocess.run(["make", "-C", str(ROOT / "native")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert PROFILE.exists() and CACHESIM.exists()
    return True


def run_guest(workdir: Path, kernel: str, size: int, plugin: str
              ) -> subprocess.CompletedProcess:
    """Runs KERNEL SIZE as `program` (a symlink in workdir) with an empty
    environment, so guest addresses do not depend on the caller."""
    link = workdir / "program"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(KERNEL_DIR / kernel)
    return subprocess.run([QEMU, "-0", "program", "-plugin", plugin,
                           "./program", str(size)],
                          capture_output=True, text=True, timeout=TIMEOUT,
                          env={}, cwd=str(workdir))


def cachesim(workdir: Path, kernel: str, size: int, line: int, l1i, l1d
             ) -> dict:
    out = workdir / "cachesim.json"
    arg = (f"{CACHESIM},l1i_size={l1i[0]},l1i_ways={l1i[1]},"
           f"l1d_size={l1d[0]},l1d_ways={l1d[1]},l2_size=262144,l2_ways=16,"
           f"line={line},out={out}")
    proc = run_guest(workdir, kernel, size, arg)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


def profile(workdir: Path, kernel: str, size: int, **args) -> dict:
    out = workdir / "profile.json"
    extra = "".join(f",{k}={v}" for k, v in args.items())
    proc = run_guest(workdir, kernel, size, f"{PROFILE},out={out}{extra}")
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


def misses(prof: dict, stream: str, line: int, size: int, ways: int) -> int:
    sets = size // (ways * line)
    row = prof["streams"][stream][str(line)][str(sets)]
    return row[0] - sum(row[1:1 + ways])


def writebacks(prof: dict, line: int, size: int, ways: int) -> int:
    """Write-backs of a write-back, write-allocate L1D (the data stream)."""
    return prof["writebacks"]["data"][str(line)][str(size // (ways * line))][ways - 1]


@pytest.fixture(scope="session", params=WORKLOADS,
                ids=[f"{k}{n}" for k, n in WORKLOADS])
def workload(request, built, tmp_path_factory):
    kernel, size = request.param
    workdir = tmp_path_factory.mktemp(f"prof-{kernel}{size}")
    return workdir, kernel, size, profile(workdir, kernel, size)


@pytest.mark.parametrize("geom", GEOMETRIES,
                         ids=[f"l{g[0]}-i{g[1][0]}x{g[1][1]}-d{g[2][0]}x{g[2][1]}"
                              for g in GEOMETRIES])
def test_l1_misses_equal_cachesim(workload, geom):
    workdir, kernel, size, prof = workload
    line, l1i, l1d = geom
    sim = cachesim(workdir, kernel, size, line, l1i, l1d)
    got = {
        "l1i_misses": misses(prof, "instr", line, *l1i),
        "l1d_misses": misses(prof, "data", line, *l1d),
        "l1d_writebacks": writebacks(prof, line, *l1d),
        "l1i_accesses": prof["streams"]["instr"][str(line)]["1"][0],
        "l1d_accesses": prof["streams"]["data"][str(line)]["1"][0],
        "instructions": prof["instructions"],
        "loads": prof["loads"],
        "stores": prof["stores"],
    }
    assert got == {k: sim[k] for k in got}


def test_profile_layout_and_invariants(workload):
    _, _, _, prof = workload
    assert prof["order_errors"] == 0          # unified stream in exact order
    assert prof["lines"] == [16, 32, 64] and prof["max_ways"] == MAX_WAYS
    n_instr, n_data = prof["instructions"], prof["loads"] + prof["stores"]
    set_counts = [str(1 << k) for k in range(14)]          # 1 .. 8192
    for line in ("16", "32", "64"):
        for stream, acc in (("instr", n_instr), ("data", n_data),
                            ("unified", n_instr + n_data)):
            rows = prof["streams"][stream][line]
            assert list(rows) == set_counts
            prev_beyond = None
            for sets in set_counts:
                row = rows[sets]
                assert len(row) == MAX_WAYS + 2 and min(row) >= 0
                assert row[0] == acc == sum(row[1:])
                # more sets (same ways) never miss more: stack distances
                # only shrink when a set is split
                if prev_beyond is not None:
                    assert row[-1] <= prev_beyond
                prev_beyond = row[-1]
        # with 8192 sets nearly everything fits: "beyond" >= cold misses
        for stream in ("instr", "data"):
            fp = prof["footprint_lines"][stream][line]
            assert 0 < fp <= prof["streams"][stream][line]["8192"][-1]
    for stream in ("instr", "data"):
        fp = prof["footprint_lines"][stream]
        assert fp["16"] > fp["32"] > fp["64"] > 0
        assert fp["16"] <= 4 * fp["64"]


def test_footprint_grows_with_problem_size(built, tmp_path):
    small = profile(tmp_path, "matmul", 16, lines="64")
    big = profile(tmp_path, "matmul", 32, lines="64")
    # three n x n double matrices: 3 * 32*32*8 / 64 = 384 lines of data
    assert big["footprint_lines"]["data"]["64"] - small["footprint_lines"]["data"]["64"] >= 384 - 96
    assert list(big["streams"]["data"]) == ["64"]


def test_options(built, tmp_path):
    prof = profile(tmp_path, "matmul", 16, lines="32:16", max_ways=4,
                   max_sets=64)
    assert prof["lines"] == [32, 16] and prof["max_ways"] == 4
    rows = prof["streams"]["data"]["16"]
    assert list(rows) == [str(1 << k) for k in range(7)]
    assert all(len(r) == 6 for r in rows.values())
    full = profile(tmp_path, "matmul", 16)
    # the same histogram prefix (depths 1..4) as with max_ways=8
    for line in ("16", "32"):
        for sets, row in prof["streams"]["instr"][line].items():
            assert row[:5] == full["streams"]["instr"][line][sets][:5]


@pytest.mark.parametrize("bad", ["lines=48", "lines=16:16", "max_ways=0",
                                 "max_ways=33", "max_sets=3", "bogus=1",
                                 "max_ways=x", "l1d_kib=3", "l1d_kib=4:x", "l1d_kib=4:4",
                                 "behind_ratio=3"])
def test_bad_arguments_fail(built, tmp_path, bad):
    out = tmp_path / "p.json"
    proc = run_guest(tmp_path, "matmul", 16, f"{PROFILE},out={out},{bad}")
    assert proc.returncode != 0
    assert "profile:" in proc.stderr
    assert not out.exists()
    assert not list(tmp_path.glob("*.tmp.*"))


# (line, (l1d size, ways), (l2 size, ways)): L2s smaller than, equal to and larger than
# the L1D, where the whole-stream estimate is furthest off.
BEHIND = [
    (16, (4096, 2), (2048, 2)),
    (32, (32768, 4), (8192, 4)),
    (32, (16384, 2), (16384, 2)),
    (64, (8192, 8), (16384, 8)),
    (64, (1024, 1), (8192, 8)),
]


@pytest.fixture(scope="session", params=WORKLOADS[1:], ids=[f"{k}{n}" for k, n in WORKLOADS[1:]])
def behind_profile(request, built, tmp_path_factory):
    kernel, size = request.param
    workdir = tmp_path_factory.mktemp(f"behind-{kernel}{size}")
    return workdir, kernel, size, profile(workdir, kernel, size, l1d_kib="1:4:8:16:32")


@pytest.mark.parametrize("geom", BEHIND, ids=[f"l{g[0]}-d{g[1][0]}x{g[1][1]}-l2{g[2][0]}x{g[2][1]}"
                                              for g in BEHIND])
def test_l2_behind_l1d_against_cachesim(behind_profile, geom):
    """The stream the profile sends each L1D's L2 is the simulator's L2 stream without the
    L1I's misses: exactly as many accesses; its misses and write-backs are lower bounds
    (extra accesses to an LRU cache only lengthen stack distances); the L1I's misses and
    the data lines they push out account for the rest of the misses (measured: less than
    twice the L1I's misses)."""
    workdir, kernel, size, prof = behind_profile
    line, l1d, l2 = geom
    out = workdir / "cachesim.json"
    proc = run_guest(workdir, kernel, size,
                     f"{CACHESIM},l1i_size=32768,l1i_ways=8,l1d_size={l1d[0]},"
                     f"l1d_ways={l1d[1]},l2_size={l2[0]},l2_ways={l2[1]},line={line},out={out}")
    assert proc.returncode == 0, proc.stderr
    sim = json.loads(out.read_text())
    entry = prof["l2_behind_l1d"][str(line)][f"{l1d[0] // (l1d[1] * line)}x{l1d[1]}"]
    sets = str(l2[0] // (l2[1] * line))
    row = entry["misses"][sets]
    l2_misses = row[0] - sum(row[1:1 + l2[1]])
    l2_writebacks = entry["writebacks"][sets][l2[1] - 1]
    assert entry["accesses"] == row[0] == sim["l2_accesses"] - sim["l1i_misses"]
    assert l2_misses <= sim["l2_misses"] <= l2_misses + 2 * sim["l1i_misses"]
    assert l2_writebacks <= sim["l2_writebacks"]


def test_l2_behind_l1d_levels_and_default(behind_profile):
    _, _, _, prof = behind_profile
    behind = prof["l2_behind_l1d"]
    # 1, 4, 8, 16, 32 KiB x ways 1, 2, 4, 8 where the set count is a power of two >= 1
    assert sorted(behind["64"]) == sorted(
        f"{kib * 1024 // (w * 64)}x{w}" for kib in (1, 4, 8, 16, 32) for w in (1, 2, 4, 8))
    # L2s up to 8x the L1D's capacity: 8 KiB behind 1 KiB of 64 B lines is 128 sets at most
    assert list(behind["64"]["16x1"]["misses"])[-1] == "128"
    assert list(behind["16"]["2048x1"]["misses"])[-1] == "8192"      # capped at max_sets


def test_l2_behind_l1d_is_off_by_default(workload):
    _, _, _, prof = workload
    assert prof["l2_behind_l1d"] == {"16": {}, "32": {}, "64": {}}
