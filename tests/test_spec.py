"""Study specs: shipped ones load; bad ones fail early with one line naming file and field."""
from __future__ import annotations

import pytest

from conftest import SHIPPED_SPECS, small_spec, write_spec
from driver.errors import SpecError
from driver.families import backend_class
from driver.spec import load_spec


@pytest.mark.parametrize("path", SHIPPED_SPECS, ids=lambda p: p.name)
def test_shipped_specs_load(path):
    spec = load_spec(path)
    backend = spec.backend_class  # defaults: the backend's responses
    assert backend is backend_class(spec.backend_name)
    assert spec.responses[0] == backend.response_names[0] == spec.objective
    assert "cycles" in spec.responses  # every shipped study reports cycles
    assert {p.role for p in spec.parameters} <= {"architecture", "workload"}


def test_deffe_table1_space_size():
    spec = load_spec(SHIPPED_SPECS[0].parent / "kmeans.yaml")
    sizes = {p.name: len(p.values) for p in spec.parameters if p.role == "architecture"}
    total = 1
    for n in sizes.values():
        total *= n
    assert total == 46_656


def test_defaults_filled(tmp_path):
    spec = small_spec()
    del spec["sampling"], spec["execution"]
    loaded = load_spec(write_spec(tmp_path / "s.yaml", spec)).to_json()
    assert loaded["sampling"] == {"method": "lhs", "samples": 64, "seed": 1234,
                                  "refinement_samples": []}
    assert loaded["execution"]["batch_size"] == 1
    assert loaded["failure"]["capture"] == "recover_nan"
    assert loaded["backend"]["settings"]["timing"]["memory_cycles"] == 100
    assert loaded["backend"]["settings"]["args"] == ["{n}"]


def _mutate(path, value):
    spec = small_spec()
    node = spec
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return spec


BAD = [
    (("colour",), "red", "(top level)", "'colour' was unexpected"),
    (("sampling", "method"), "sobol", "sampling.method", "['lhs', 'random', 'grid']"),
    (("sampling", "samples"), "many", "sampling.samples", "not of type 'integer'"),
    (("parameters", 0, "role"), "arch", "parameters[0].role", "['architecture', 'workload']"),
    (("parameters", 1, "values"), [1, 3], "parameters[0].values", "must be a positive power of two"),
    (("parameters", 0, "values"), [1, 3], "parameters[0].values", "3 KiB"),
    (("parameters", 3, "values"), [24], "parameters[3].values", "not a power of two"),
    (("parameters", 4, "name"), "l1d_ways", "parameters[4].name", "duplicate"),
    (("backend", "name"), "spike", "backend.name", "allowed: "),
    (("backend", "settings", "kernel"), "fft", "backend.settings.kernel", "'matmul'"),
    (("backend", "settings", "timing"), {"l2_hit": 1}, "backend.settings.timing", "unexpected"),
    (("backend", "settings", "args"), ["{m}"], "backend.settings.args[0]", "allowed: l1d_size_kib"),
    (("backend", "settings", "cache"), {"l2_line_bytes": 128}, "backend.settings.cache.l2_line_bytes",
     "must equal the L1 line"),
    (("responses",), ["cycles", "ipc"], "responses[1]", "allowed: cycles"),
    (("execution", "batch_size"), 0, "execution.batch_size", "minimum"),
    # Typed parameters, objectives, what the backend consumes (the families issue).
    (("parameters", 0, "name"), "l1d_sise_kib", "parameters[0].name",
     "does not consume a parameter 'l1d_sise_kib'; allowed: kernel, l1d_size_kib"),
    (("parameters", 0, "values"), [1, "big"], "parameters[0].values", "mixes numbers and words"),
    (("parameters", 0, "values"), [1, float("inf")], "parameters[0].values", "not a finite"),
    (("parameters", 0, "values"), [1, float("nan")], "parameters[0].values", "not a finite"),
    (("parameters", 0, "type"), "categorical", "parameters[0].type", "must be words"),
    (("parameters", 0, "type"), "complex", "parameters[0].type", "'integer', 'real'"),
    (("parameters", 0, "transform"), "onehot", "parameters[0].transform",
     "allowed: auto, none, log2"),
    (("parameters", 4, "values"), ["a b", "c"], "parameters[4].values[0]", "does not match"),
    (("parameters", 4, "values"), ["128", "c"], "parameters[4].values[0]", "does not match"),
    (("backend", "settings", "cache"), {"l1d_ways": 2}, "backend.settings.cache.l1d_ways",
     "also swept"),
    (("objective",), "ipc", "objective", "allowed: cycles, instructions"),
    (("responses",), ["instructions"], "objective", "'cycles' is not among"),
]


@pytest.mark.parametrize("path,value,field,text", BAD, ids=[b[2] + ":" + str(b[1]) for b in BAD])
def test_bad_spec_is_one_line_naming_file_and_field(tmp_path, path, value, field, text):
    spec = _mutate(path, value)
    if field == "objective" and path == ("responses",):
        spec["objective"] = "cycles"
    spec_file = write_spec(tmp_path / "bad.yaml", spec)
    with pytest.raises(SpecError) as err:
        load_spec(spec_file)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{spec_file}: {field}:"), message
    assert text in message


def test_parameter_types(tmp_path):
    spec = small_spec()
    spec["parameters"][4] = {"name": "n", "role": "workload", "type": "integer",
                             "values": [16, 24.5]}
    with pytest.raises(SpecError, match=r"parameters\[4\].values: type integer, but 24.5 is "
                       r"not a whole number \(use type: real\)"):
        load_spec(write_spec(tmp_path / "s.yaml", spec))
    spec["parameters"][4] = {"name": "n", "role": "workload", "values": [16.0, 32.0]}
    loaded = load_spec(write_spec(tmp_path / "s.yaml", spec)).to_json()
    assert loaded["parameters"][4]["type"] == "integer"
    assert loaded["parameters"][4]["values"] == [16, 32]
    assert all(isinstance(v, int) for v in loaded["parameters"][4]["values"])
    spec["parameters"][4] = {"name": "n", "role": "workload", "type": "real", "values": [16, 32]}
    loaded = load_spec(write_spec(tmp_path / "s.yaml", spec)).to_json()
    assert loaded["parameters"][4]["values"] == [16.0, 32.0]
    assert all(isinstance(v, float) for v in loaded["parameters"][4]["values"])


def test_kernel_as_a_categorical_parameter(tmp_path):
    spec = small_spec(backend={"name": "qemu_riscv", "settings": {"args": ["{n}"]}})
    spec["parameters"].append({"name": "kernel", "role": "workload",
                               "values": ["matmul", "kmeans"]})
    spec["parameters"][4]["values"] = [128, 256]  # sizes both kernels accept
    loaded = load_spec(write_spec(tmp_path / "s.yaml", spec)).to_json()
    assert loaded["parameters"][-1]["type"] == "categorical"
    assert set(loaded["backend"]["settings"]["programs"]) == {"matmul", "kmeans"}
    spec["parameters"][-1]["values"] = ["matmul", "fft"]
    with pytest.raises(SpecError, match=r"parameters\[5\].values: 'fft' is not a built-in "
                       "kernel; allowed: kmeans, matmul"):
        load_spec(write_spec(tmp_path / "s.yaml", spec))
    spec["parameters"][-1]["values"] = ["matmul", "nw"]
    spec["backend"]["settings"]["kernel"] = "nw"
    with pytest.raises(SpecError, match="backend.settings.kernel: the study sweeps the kernel"):
        load_spec(write_spec(tmp_path / "s.yaml", spec))


def test_fork_batch_mode_requires_recover_nan(tmp_path):
    spec = small_spec(execution={"batch_size": 4, "interface": "fork"},
                      failure={"capture": "retry"})
    with pytest.raises(SpecError, match="failure.capture: with execution.interface fork and "
                       "execution.batch_size > 1"):
        load_spec(write_spec(tmp_path / "s.yaml", spec))
    spec["execution"]["interface"] = "python"  # the in-process driver retries itself
    assert load_spec(write_spec(tmp_path / "s.yaml", spec)).failure.capture == "retry"


def test_invalid_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("study: [unclosed\n")
    with pytest.raises(SpecError, match=r"broken.yaml: line \d+: not valid YAML"):
        load_spec(bad)
    with pytest.raises(SpecError, match="cannot read study spec"):
        load_spec(tmp_path / "absent.yaml")


def test_yaml_is_loaded_safely(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("study: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(evil)


def test_user_binary_and_source(tmp_path, native_built):
    source = tmp_path / "mine.c"
    source.write_text('#include <stdio.h>\n#include <stdlib.h>\n'
                      'int main(int c, char **v) { long n = atol(v[1]), s = 0;'
                      ' for (long i = 0; i < n; i++) s += i; printf("%ld\\n", s); return 0; }\n')
    spec = small_spec(backend={"name": "qemu_riscv",
                               "settings": {"source": "mine.c", "args": ["{n}", "x{line_bytes}"]}})
    loaded = load_spec(write_spec(tmp_path / "s.yaml", spec))
    program = loaded.settings["program"]
    assert program.endswith("/mine") and "user_kernels" in program
    # The user's kernel really runs under the cache simulator, with arguments from the point.
    from driver.families import backend_class

    backend = backend_class("qemu_riscv")(loaded.settings, timeout_s=60)
    point = {"l1d_size_kib": 4, "l1d_ways": 2, "l2_size_kib": 64, "line_bytes": 64}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    small = backend.evaluate({**point, "n": 16}, tmp_path / "a")
    large = backend.evaluate({**point, "n": 32}, tmp_path / "b")
    assert (tmp_path / "a" / "program.out").read_text() == "120\n"  # sum of 0..15
    assert large["instructions"] > small["instructions"] > 0
    spec["backend"]["settings"] = {"binary": program}
    assert load_spec(write_spec(tmp_path / "s2.yaml", spec)).settings["program"] == program
    spec["backend"]["settings"] = {"binary": "nope.elf"}
    with pytest.raises(SpecError, match="backend.settings.binary: no such file"):
        load_spec(write_spec(tmp_path / "s3.yaml", spec))
    spec["backend"]["settings"] = {"kernel": "matmul", "binary": program}
    with pytest.raises(SpecError, match="exactly one of kernel"):
        load_spec(write_spec(tmp_path / "s4.yaml", spec))
    broken = tmp_path / "broken.c"
    broken.write_text("int main( {")
    spec["backend"]["settings"] = {"source": "broken.c"}
    with pytest.raises(SpecError, match="broken.c does not compile"):
        load_spec(write_spec(tmp_path / "s5.yaml", spec))


def test_extends_merges_and_detects_cycles(tmp_path):
    write_spec(tmp_path / "base.yaml", small_spec())
    (tmp_path / "child.yaml").write_text(
        "extends: base.yaml\nstudy: child\nsampling: {samples: 9}\n")
    spec = load_spec(tmp_path / "child.yaml")
    assert spec.study == "child" and spec.sampling.samples == 9
    assert spec.sampling.seed == 11  # kept from the base
    assert spec.parameters == load_spec(tmp_path / "base.yaml").parameters
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(SpecError, match=r"extends: a.yaml extends this file again \(a cycle\)"):
        load_spec(tmp_path / "a.yaml")


def test_kernel_size_ranges_are_the_c_kernels_own():
    """The spec-time size check (program.KERNEL_SIZES) says what each built-in C kernel's
    parse_args accepts, word for word: a range changed in one place fails here."""
    import re
    from pathlib import Path

    from driver.families.cache.program import BUILTIN_KERNELS, KERNEL_SIZES

    kernels = Path(__file__).resolve().parents[1] / "native" / "kernels"
    call = re.compile(r'parse_args\(argc, argv, "([^"]+)", (\d+), (\d+),')
    assert set(KERNEL_SIZES) == set(BUILTIN_KERNELS)
    for kernel in BUILTIN_KERNELS:
        found = call.findall((kernels / f"{kernel}.c").read_text())
        assert [(what, int(low), int(high)) for what, low, high in found] == \
            [KERNEL_SIZES[kernel]], kernel
