"""Tests of the native part: the cachesim QEMU plugin and the RISC-V kernels.

The reference test runs every kernel twice under qemu-riscv64, once with our
plugin (build/plugins/libcachesim.so) and once with QEMU's own contrib cache
plugin (build/plugins/libcache_ref.so, built unmodified from
build/qemu-src/contrib/plugins/cache.c), and requires identical L1I and L1D
access and miss counts.

Making the comparison fair (no approximation is allowed anywhere):
  * cache.c in user mode uses guest virtual addresses for both instructions
    (qemu_plugin_insn_vaddr; it only uses host addresses in system mode) and
    data (qemu_plugin_get_hwaddr returns NULL in user mode), just like ours.
  * cache.c counts one L1I access per executed instruction with a callback
    per instruction; ours groups each TB's instructions into same-line runs
    and does one access per run. The L1I counts must still be identical.
  * cache.c registers its memory callback for QEMU_PLUGIN_MEM_RW and does
    not split line-crossing accesses; ours does the same.
  * cache.c's LRU (generation counters, invalid ways filled first) is true
    LRU as long as a set's generation counter fits its `int min_priority`
    (< 2**31 accesses per set), which holds for these small runs.
  * cache.c has separate I/D line sizes and no write-back modelling; it is
    configured with the same line size for both (iblksize = dblksize = line),
    evict=lru, and without its L2 (its L2 has no write-backs, so L2 counts
    are not comparable and only L1 counts are compared). In user mode its
    `cores` is 1. Its report goes to the QEMU log (-d plugin -D FILE).
  * Both runs use the same kernel path, arguments, environment and working
    directory, so the guest's address-space layout is the same.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
PLUGIN = BUILD / "plugins" / "libcachesim.so"
REF_PLUGIN = BUILD / "plugins" / "libcache_ref.so"
KERNELS = ("kmeans", "matmul", "nw", "backprop")
KERNEL_DIR = BUILD / "kernels"
QEMU = shutil.which("qemu-riscv64")

JSON_KEYS = {
    "instructions", "l1i_accesses", "l1i_misses", "l1d_accesses", "l1d_misses",
    "l1d_writebacks", "l2_accesses", "l2_misses", "l2_writebacks", "loads",
    "stores",
}

# Small sizes: each run well under a second, even with cache.c.
SMALL = {"kmeans": 300, "matmul": 40, "nw": 150, "backprop": 64}
# Reference-test sizes (a few million instructions, still < 1 s with cache.c).
REF_SIZE = {"kmeans": 3000, "matmul": 72, "nw": 400, "backprop": 512}

# Fixed guest environment: the guest stack layout depends on it.
GUEST_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}

TIMEOUT = 120


@pytest.fixture(scope="session")
def built():
    """Builds the native part with `make -C native`; skips only if the
    artefacts are missing and cannot be built."""
    if QEMU is None:
        pytest.skip("qemu-riscv64 not installed (scripts/setup-system.sh installs it)")
    needed = [PLUGIN, REF_PLUGIN] + [KERNEL_DIR / k for k in KERNELS]
    make_err = ""
    if shutil.which("make"):
        proc = subprocess.run(["make", "-C", str(ROOT / "native")],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            make_err = proc.stdout[-2000:] + proc.stderr[-2000:]
    else:
        make_err = "make not found"
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        pytest.skip(f"native artefacts missing and `make -C native` failed: "
                    f"{missing}: {make_err}")
    if make_err:
        # Artefacts exist but the build failed: that is a real error.
        pytest.fail(f"`make -C native` failed:\n{make_err}")
    return True


def plugin_arg(l1i=(4096, 2), l1d=(4096, 2), l2=(65536, 4), line=32, out=None,
               **extra) -> str:
    args = {
        "l1i_size": l1i[0], "l1i_ways": l1i[1],
        "l1d_size": l1d[0], "l1d_ways": l1d[1],
        "l2_size": l2[0], "l2_ways": l2[1],
        "line": line,
    }
    args.update(extra)
    if out is not None:
        args["out"] = out
    return f"{PLUGIN}," + ",".join(f"{k}={v}" for k, v in args.items())


def run_kernel(kernel: str, size: int, seed: int | None = None,
               qemu_opts: list[str] | None = None) -> subprocess.CompletedProcess:
    cmd = [QEMU] + (qemu_opts or []) + [str(KERNEL_DIR / kernel), str(size)]
    if seed is not None:
        cmd.append(str(seed))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT,
                          env=GUEST_ENV, cwd=str(BUILD))


def run_sim(tmp_path: Path, kernel: str, size: int, seed: int | None = None,
            **geometry) -> tuple[str, dict]:
    out = tmp_path / f"{kernel}-{os.urandom(4).hex()}.json"
    proc = run_kernel(kernel, size, seed,
                      ["-plugin", plugin_arg(out=str(out), **geometry)])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, json.loads(out.read_text())


def run_ref(tmp_path: Path, kernel: str, size: int, l1i, l1d, line) -> dict:
    log = tmp_path / f"ref-{kernel}-{os.urandom(4).hex()}.log"
    arg = (f"{REF_PLUGIN},icachesize={l1i[0]},iassoc={l1i[1]},iblksize={line},"
           f"dcachesize={l1d[0]},dassoc={l1d[1]},dblksize={line},evict=lru")
    proc = run_kernel(kernel, size, None,
                      ["-d", "plugin", "-D", str(log), "-plugin", arg])
    assert proc.returncode == 0, proc.stderr
    lines = log.read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("core #"))
    # "0  <data accesses> <data misses> <rate>% <insn accesses> <insn misses> <rate>%"
    fields = lines[header + 1].split()
    assert fields[0] == "0", lines[header + 1]
    return {
        "l1d_accesses": int(fields[1]), "l1d_misses": int(fields[2]),
        "l1i_accesses": int(fields[4]), "l1i_misses": int(fields[5]),
    }


# (l1i (size, ways), l1d (size, ways), line)
GEOMETRIES = [
    ((1024, 1), (1024, 1), 16),        # tiny, direct mapped, short lines
    ((4096, 2), (4096, 2), 32),
    ((2048, 4), (12288, 3), 64),       # non-power-of-two ways, I != D
    ((32768, 8), (32768, 8), 64),
]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("geom", GEOMETRIES,
                         ids=lambda g: f"i{g[0][0]}x{g[0][1]}-d{g[1][0]}x{g[1][1]}-l{g[2]}")
def test_l1_counts_identical_to_qemu_cache_plugin(built, tmp_path, geom, kernel):
    l1i, l1d, line = geom
    size = REF_SIZE[kernel]
    stdout, ours = run_sim(tmp_path, kernel, size, l1i=l1i, l1d=l1d,
                           l2=(262144, 16), line=line)
    ref = run_ref(tmp_path, kernel, size, l1i, l1d, line)
    got = {k: ours[k] for k in ref}
    assert got == ref
    assert ours["instructions"] == ref["l1i_accesses"]


def test_json_keys_and_invariants(built, tmp_path):
    for kernel in KERNELS:
        _, d = run_sim(tmp_path, kernel, SMALL[kernel])
        assert set(d) == JSON_KEYS
        assert all(isinstance(v, int) and v >= 0 for v in d.values()), d
        assert d["instructions"] > 0 and d["l1i_accesses"] == d["instructions"]
        assert d["l1d_accesses"] == d["loads"] + d["stores"]
        assert d["loads"] > 0 and d["stores"] > 0
        assert d["l1i_misses"] <= d["l1i_accesses"]
        assert d["l1d_misses"] <= d["l1d_accesses"]
        assert d["l1d_writebacks"] <= d["l1d_misses"]
        assert d["l2_accesses"] == (d["l1i_misses"] + d["l1d_misses"]
                                    + d["l1d_writebacks"])
        assert d["l2_misses"] <= d["l2_accesses"]
        assert d["l2_writebacks"] <= d["l2_misses"]
    # no temporary files left next to the output
    assert not [p for p in tmp_path.iterdir() if ".tmp." in p.name]


def test_write_back_model_on_matmul(built, tmp_path):
    """With a tiny L1D, matmul's stores to C must cause write-backs, and a
    huge L2 must take every write-back without writing back to memory."""
    _, d = run_sim(tmp_path, "matmul", 40, l1d=(1024, 1), l2=(1 << 22, 8),
                   line=32)
    assert d["l1d_writebacks"] > 0
    assert d["l2_writebacks"] == 0
    _, small_l2 = run_sim(tmp_path, "matmul", 40, l1d=(1024, 1), l2=(2048, 1),
                          line=32)
    assert small_l2["l1d_writebacks"] == d["l1d_writebacks"]   # L1 unaffected
    assert small_l2["l2_writebacks"] > 0


STREAM_C = r"""
#include <stdlib.h>
static char buf[4096 * 64] __attribute__((aligned(4096)));
int main(int argc, char **argv) {
    long lines = atol(argv[1]);
    int store = argv[2][0] == 's';
    volatile char *b = buf;
    long s = 0;
    if (store) for (long i = 0; i < lines; i++) b[i * 64] = 1;
    else for (long i = 0; i < lines; i++) s += b[i * 64];
    return (int)(s & 1);
}
"""


@pytest.fixture(scope="session")
def stream_exe(built, tmp_path_factory):
    cc = shutil.which("riscv64-linux-gnu-gcc")
    if cc is None:
        pytest.skip("riscv64-linux-gnu-gcc not installed")
    d = tmp_path_factory.mktemp("stream")
    (d / "stream.c").write_text(STREAM_C)
    subprocess.run([cc, "-O2", "-static", "-o", str(d / "stream"),
                    str(d / "stream.c")], check=True, timeout=120)
    return d / "stream"


@pytest.mark.parametrize("mode,l2,expect", [
    # stores, L2 direct mapped with 64 lines: every extra line is an L1D miss
    # (fill = L2 miss), evicts the dirty line 16 lines back from L1D (an L1D
    # write-back that hits in L2 and dirties it), and the L2 fill evicts the
    # dirty line 64 lines back (an L2 write-back).
    ("s", (4096, 1), dict(l1d_misses=1, l1d_writebacks=1, l2_accesses=2,
                          l2_misses=1, l2_writebacks=1, stores=1, loads=0)),
    # stores, big L2: write-backs are absorbed by L2.
    ("s", (1 << 20, 4), dict(l1d_misses=1, l1d_writebacks=1, l2_accesses=2,
                             l2_misses=1, l2_writebacks=0, stores=1, loads=0)),
    # loads: nothing is ever dirty.
    ("l", (4096, 1), dict(l1d_misses=1, l1d_writebacks=0, l2_accesses=1,
                          l2_misses=1, l2_writebacks=0, stores=0, loads=1)),
])
def test_write_back_model_exact(stream_exe, tmp_path, mode, l2, expect):
    """Differential, exactly predictable check of the write-back/L2 model:
    a guest touches one byte per 64 B line over 1024 or 2048 consecutive
    lines (L1D 1 KiB direct mapped = 16 lines); the difference between the
    two runs must be exactly `expect` per extra line (start-up and exit
    accesses cancel out)."""
    res = []
    for lines in (1024, 2048):
        out = tmp_path / f"{lines}.json"
        arg = plugin_arg(l1d=(1024, 1), l2=l2, line=64, out=str(out))
        proc = subprocess.run([QEMU, "-plugin", arg, str(stream_exe),
                               str(lines), mode], capture_output=True,
                              text=True, timeout=TIMEOUT, env=GUEST_ENV)
        assert proc.returncode == 0, proc.stderr
        res.append(json.loads(out.read_text()))
    delta = {k: res[1][k] - res[0][k] for k in expect}
    assert delta == {k: v * 1024 for k, v in expect.items()}


def test_more_ways_never_more_misses(built, tmp_path):
    """LRU stack property: with the number of sets and the line fixed, adding
    ways never increases L1 misses (the L1 access streams do not depend on
    the cache configuration)."""
    line, sets = 32, 16
    for kernel in ("nw", "matmul"):
        prev = None
        for ways in (1, 2, 3, 4, 8, 16):
            size = sets * ways * line
            _, d = run_sim(tmp_path, kernel, SMALL[kernel], l1i=(size, ways),
                           l1d=(size, ways), line=line)
            if prev is not None:
                assert d["l1d_misses"] <= prev["l1d_misses"], (kernel, ways)
                assert d["l1i_misses"] <= prev["l1i_misses"], (kernel, ways)
                assert d["l1d_accesses"] == prev["l1d_accesses"]
            prev = d


def test_checksum_unchanged_by_plugin(built, tmp_path):
    for kernel in KERNELS:
        plain = run_kernel(kernel, SMALL[kernel])
        assert plain.returncode == 0, plain.stderr
        with_plugin, _ = run_sim(tmp_path, kernel, SMALL[kernel])
        assert plain.stdout == with_plugin
        assert plain.stdout.count("\n") == 1 and "checksum=" in plain.stdout


def test_kernel_output_deterministic_per_seed(built):
    for kernel in KERNELS:
        a = run_kernel(kernel, SMALL[kernel], 7)
        b = run_kernel(kernel, SMALL[kernel], 7)
        c = run_kernel(kernel, SMALL[kernel], 8)
        default = run_kernel(kernel, SMALL[kernel])
        one = run_kernel(kernel, SMALL[kernel], 1)
        for p in (a, b, c, default, one):
            assert p.returncode == 0, p.stderr
        assert a.stdout == b.stdout
        def checksum(p):
            return p.stdout.split("checksum=")[1]
        assert checksum(a) != checksum(c)
        assert default.stdout == one.stdout


@pytest.mark.parametrize("args", [[], ["abc"], ["0"], ["99999999"], ["64", "x"],
                                  ["64", "1", "2"], ["-5"]])
def test_kernel_bad_args_usage(built, args):
    for kernel in KERNELS:
        proc = subprocess.run([QEMU, str(KERNEL_DIR / kernel)] + args,
                              capture_output=True, text=True, timeout=TIMEOUT)
        assert proc.returncode == 2, (kernel, args, proc.stdout)
        assert "usage" in proc.stderr
        assert proc.stdout == ""


@pytest.mark.parametrize("bad", [
    {"l1d": (3000, 2)},                    # not a multiple of ways * line
    {"l2": (196608, 16), "line": 64},      # 192 sets: not a power of two
    {"l1i": (4096, 0)},                    # zero ways
    {"l1d": (0, 1)},                       # zero size
    {"line": 48},                          # line not a power of two
    {"bogus": 1},                          # unknown key
    {"l1i_size": "4k"},                    # not an integer
])
def test_invalid_geometry_fails(built, tmp_path, bad):
    out = tmp_path / "out.json"
    geometry = {k: v for k, v in bad.items() if k in ("l1i", "l1d", "l2", "line")}
    extra = {k: v for k, v in bad.items() if k not in geometry}
    arg = plugin_arg(out=str(out), **geometry, **extra)
    proc = run_kernel("matmul", 16, None, ["-plugin", arg])
    assert proc.returncode != 0
    assert "cachesim:" in proc.stderr
    assert not out.exists()


def test_missing_argument_fails(built, tmp_path):
    arg = plugin_arg(out=str(tmp_path / "o.json"))
    arg = ",".join(a for a in arg.split(",") if not a.startswith("line="))
    proc = run_kernel("matmul", 16, None, ["-plugin", arg])
    assert proc.returncode != 0
    assert "missing argument line" in proc.stderr


def test_json_to_stderr_without_out(built):
    proc = run_kernel("matmul", 16, None, ["-plugin", plugin_arg()])
    assert proc.returncode == 0
    d = json.loads(proc.stderr.strip().splitlines()[-1])
    assert set(d) == JSON_KEYS


def test_multithreaded_guest_does_not_crash(built, tmp_path):
    cc = shutil.which("riscv64-linux-gnu-gcc")
    if cc is None:
        pytest.skip("riscv64-linux-gnu-gcc not installed")
    src = tmp_path / "threads.c"
    src.write_text(r"""
#include <pthread.h>
#include <stdio.h>
static long data[4][2048];
static long sums[4];
static void *work(void *p) {
    long id = (long)p, s = 0;
    for (int r = 0; r < 20; r++)
        for (int i = 0; i < 2048; i++) { data[id][i] += i ^ r; s += data[id][i]; }
    sums[id] = s;
    return NULL;
}
int main(void) {
    pthread_t t[4];
    for (long i = 0; i < 4; i++) pthread_create(&t[i], NULL, work, (void *)i);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    printf("%ld\n", sums[0] + sums[1] + sums[2] + sums[3]);
    return 0;
}
""")
    exe = tmp_path / "threads"
    subprocess.run([cc, "-O2", "-static", "-pthread", "-o", str(exe), str(src)],
                   check=True, timeout=120)
    out = tmp_path / "t.json"
    proc = subprocess.run([QEMU, "-plugin", plugin_arg(out=str(out)), str(exe)],
                          capture_output=True, text=True, timeout=TIMEOUT)
    plain = subprocess.run([QEMU, str(exe)], capture_output=True, text=True,
                           timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == plain.stdout
    d = json.loads(out.read_text())
    assert set(d) == JSON_KEYS
    assert d["instructions"] == d["l1i_accesses"] > 0
    assert d["l1d_accesses"] == d["loads"] + d["stores"]
