"""Which RISC-V program a cache-family backend runs, and with which arguments.

A backend's settings name exactly one of:

``kernel``  a built-in kernel (``native/kernels/<name>.c``, built at set-up into
            ``build/kernels/<name>``),
``source``  the user's own C file, cross-compiled static RV64GC on first use and cached
            by content hash under ``build/user_kernels/``, or
``binary``  the user's own static RISC-V executable;

or the study sweeps a categorical parameter named ``kernel`` whose values are built-in
kernels: each design point then runs its own kernel.

``args`` is a list of argument templates such as ``["{objects}", "7"]``; ``{name}``
is replaced by that parameter's value at the design point. With one workload
parameter (besides ``kernel``) and no ``args``, the program gets that parameter's value as
its only argument.
"""
from __future__ import annotations

import os
from pathlib import Path

from ...errors import SpecError

TYPE_CHECKING = False  # typing costs the driver milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any, Mapping

    from ...resolved import ResolvedSpec

ROOT = Path(__file__).resolve().parents[3]
BUILD = Path(os.environ.get("CYCLECAST_BUILD", ROOT / "build"))
BUILTIN_KERNELS = ("kmeans", "matmul", "nw", "backprop", "stencil")
CROSS_CC = "riscv64-linux-gnu-gcc"
# What each built-in kernel's one argument is and the range it accepts (native/kernels/).
KERNEL_SIZES = {"kmeans": ("number of objects", 100, 50000),
                "matmul": ("matrix dimension n", 16, 256),
                "nw": ("sequence length n", 128, 2048),
                "backprop": ("input layer size", 16, 4096),
                "stencil": ("grid side n", 32, 512)}
ELF_MACHINES = {3: "x86 (32-bit)", 40: "ARM", 62: "x86-64", 183: "AArch64", 243: "RISC-V"}
EM_RISCV = 243
KERNEL_PARAMETER = "kernel"  # a categorical parameter of this name picks the kernel per point

WORKLOAD_SETTINGS_SCHEMA = {
    "kernel": {"enum": list(BUILTIN_KERNELS)},
    "source": {"type": "string", "minLength": 1},
    "binary": {"type": "string", "minLength": 1},
    "args": {"type": "array", "items": {"type": "string"}},
    # How the profile estimates the L2 (driver/families/cache/estimate.py): whole_stream
    # (the default) or behind_l1d (exact for L2s up to 8x the L1D; profiling 10-20x longer).
    "l2_estimate": {"enum": ["whole_stream", "behind_l1d"]},
}


def _compile(source: Path, where: str) -> Path:
    import hashlib
    import shutil
    import subprocess

    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    out = BUILD / "user_kernels" / digest / source.stem
    if out.exists():
        return out
    if shutil.which(CROSS_CC) is None:
        raise SpecError(f"{where}: backend.settings.source: {CROSS_CC} not found; "
                        "run `make setup` (installs gcc-riscv64-linux-gnu)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    proc = subprocess.run([CROSS_CC, "-O2", "-static", "-march=rv64gc", "-mabi=lp64d",
                           "-o", str(tmp), str(source), "-lm"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["no output"])[0]
        raise SpecError(f"{where}: backend.settings.source: {source} does not compile: {first}")
    os.replace(tmp, out)
    return out


def resolve_program(spec: ResolvedSpec, settings: dict[str, Any], where: str,
                    spec_dir: Path) -> None:
    """Set ``settings['program']`` (absolute path) or, with a swept ``kernel`` parameter,
    ``settings['programs']`` (kernel -> absolute path), and ``settings['args']``, in place."""
    import string

    given = [key for key in ("kernel", "source", "binary") if key in settings]
    swept = {p.name: (i, p) for i, p in enumerate(spec.parameters)}.get(KERNEL_PARAMETER)
    if swept is not None:
        i, parameter = swept
        if given:
            raise SpecError(f"{where}: backend.settings.{given[0]}: the study sweeps the "
                            f"kernel (parameters[{i}]); name it in one place only")
        unknown = [v for v in parameter.values if v not in BUILTIN_KERNELS]
        if unknown:
            raise SpecError(f"{where}: parameters[{i}].values: {unknown[0]!r} is not a built-in "
                            f"kernel; allowed: {', '.join(BUILTIN_KERNELS)}")
        settings["programs"] = {k: str(BUILD / "kernels" / k) for k in parameter.values}
    elif len(given) != 1:
        raise SpecError(f"{where}: backend.settings: name exactly one of kernel "
                        f"({'|'.join(BUILTIN_KERNELS)}), source (a C file) or binary "
                        f"(a static RISC-V executable), or sweep a parameter named kernel; "
                        f"found {given or 'none'}")
    else:
        key = given[0]
        if key == "kernel":
            program = BUILD / "kernels" / settings["kernel"]
        else:
            program = (spec_dir / settings[key]).resolve()
            if not program.is_file():
                raise SpecError(f"{where}: backend.settings.{key}: no such file {program}")
            if key == "source":
                program = _compile(program, where)
            else:
                check_riscv_executable(program, f"{where}: backend.settings.binary")
        settings["program"] = str(program)

    names = [p.name for p in spec.parameters]
    workload = [p.name for p in spec.parameters
                if p.role == "workload" and p.name != KERNEL_PARAMETER]
    if "args" not in settings:
        if len(workload) != 1:
            raise SpecError(f"{where}: backend.settings.args: required when the study has "
                            f"{len(workload)} workload parameters (e.g. args: [\"{{n}}\"])")
        settings["args"] = [f"{{{workload[0]}}}"]
    for i, template in enumerate(settings["args"]):
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
        except ValueError as err:
            raise SpecError(f"{where}: backend.settings.args[{i}]: {err}") from None
        for f in fields:
            if f not in names:
                raise SpecError(f"{where}: backend.settings.args[{i}]: unknown parameter "
                                f"{{{f}}}; allowed: {', '.join(names)}")
    check_kernel_sizes(spec, settings, where)


def check_riscv_executable(program: Path, where: str) -> None:
    """A one-line SpecError unless ``program`` is a 64-bit RISC-V ELF executable: anything
    else would fail every evaluation of the study."""
    try:
        with open(program, "rb") as f:
            header = f.read(20)
    except OSError as err:
        raise SpecError(f"{where}: cannot read {program}: {err.strerror}") from None
    if header[:4] != b"\x7fELF":
        raise SpecError(f"{where}: {program} is not an ELF executable; give a static RISC-V "
                        "(RV64) executable, or source: a C file")
    machine = int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")
    if machine != EM_RISCV or header[4] != 2:
        name = ELF_MACHINES.get(machine, f"machine {machine}")
        bits = "64-bit" if header[4] == 2 else "32-bit"
        raise SpecError(f"{where}: {program} is a {bits} {name} executable; a static RISC-V "
                        "(RV64) executable is needed, or source: a C file")


def check_kernel_sizes(spec: ResolvedSpec, settings: Mapping[str, Any],
                       where: str) -> None:
    """Values of the parameter a built-in kernel takes as its size must lie in the range
    the kernel accepts (outside it the kernel exits with its usage, every evaluation)."""
    parameters = {p.name: (i, p) for i, p in enumerate(spec.parameters)}
    swept = parameters.get(KERNEL_PARAMETER)
    kernels = swept[1].values if swept else [settings.get("kernel")]
    args = settings.get("args") or []
    name = args[0][1:-1] if args and args[0].startswith("{") and args[0].endswith("}") else None
    if name not in parameters:
        return
    i, parameter = parameters[name]
    for kernel in kernels:
        if kernel not in KERNEL_SIZES:
            continue
        what, low, high = KERNEL_SIZES[kernel]
        bad = [v for v in parameter.values if isinstance(v, str)
               or not (float(v).is_integer() and low <= v <= high)]
        if bad:
            raise SpecError(f"{where}: parameters[{i}].values: {name} = {bad[0]!r}: kernel "
                            f"{kernel} takes its {what} in {low}..{high}")


def referenced_parameters(settings: Mapping[str, Any]) -> set[str]:
    """Parameters the program's argument templates name."""
    import string

    return {f for template in settings.get("args", ())
            for _, f, _, _ in string.Formatter().parse(template) if f}


def program_for(settings: Mapping[str, Any], point: Mapping[str, Any]) -> str:
    """The program of one design point (its swept kernel's, else the study's)."""
    programs = settings.get("programs")
    return programs[point[KERNEL_PARAMETER]] if programs else settings["program"]


def all_programs(settings: Mapping[str, Any]) -> list[str]:
    return list(settings["programs"].values()) if settings.get("programs") else \
        [settings["program"]]


def program_arguments(settings: Mapping[str, Any], point: Mapping[str, Any]) -> list[str]:
    """The argument list for one design point (integers printed without '.0')."""
    values = {k: int(v) if isinstance(v, float) and v.is_integer() else v
              for k, v in point.items()}
    return [template.format_map(values) for template in settings["args"]]


def pinned_copy(program: str | Path) -> Path:
    """The program, copied (once) to a path that is the same on every machine.

    QEMU answers the guest's readlink("/proc/self/exe") with the program's real path, and
    the C library's start-up copies it onto the heap: a longer checkout path moves heap
    addresses and changes cache counts. So every run uses a content-addressed copy at
    /tmp/cyclecast-UID/SHA/program (fixed length), whatever the checkout's location.
    """
    import hashlib
    import shutil

    data = Path(program).read_bytes()
    target = Path(f"/tmp/cyclecast-{os.getuid():08d}") / hashlib.sha256(data).hexdigest()[:16] \
        / "program"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"program.{os.getpid()}.tmp")
        shutil.copyfile(program, tmp)
        tmp.chmod(0o755)
        os.replace(tmp, target)  # atomic: concurrent drivers see a whole file or none
    return target
