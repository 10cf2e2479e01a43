"""Dynamic code analysis of the GPU program XLA generates: its PTX kernels weighted by how
many threads each launch runs, and the library calls (cuDNN convolutions, cuBLAS GEMMs) in
between.

XLA's dump of a GPU compile (``--xla_dump_to``) holds each kernel's PTX (``*.ptx``) and the
thunk sequence (``*.thunk_sequence.txt``): the program's steps in order, each a kernel
launch with its grid and block sizes, or a library call. A kernel runs once per launched
thread (fewer where its bounds check lets threads beyond the data exit at once: XLA's
loop kernels open with ``setp.gt.u32 %p, %index, LAST; @%p bra EXIT``). Each instruction
counts once per active thread; a loop's body (a backward branch) counts once, and the loops
are counted apart (their trip counts are not in the text). Library calls have no PTX: their
work comes from the HLO (:mod:`.hlo` counts cuDNN convolutions' MACs as convolutions).

Pure text processing, tested on a dump XLA really produced (``tests/fixtures/cnn/``).
"""
from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

#: Instruction classes (keys of the counts), in report order.
CLASSES = ("fp32", "fp16", "fp64", "integer", "special", "convert", "compare_select",
           "branch", "global_load", "global_store", "shared_load", "shared_store",
           "param_load", "local_memory", "atomic", "barrier", "shuffle", "move", "other")
#: Counts of :func:`analyse` besides the classes.
TOTALS = ("instructions", "global_load_bytes", "global_store_bytes", "shared_bytes",
          "loop_instructions", "loops", "launches", "threads", "library_calls",
          "convolution_calls", "gemm_calls", "shared_memory_bytes")
SPECIAL = {"ex2", "lg2", "sin", "cos", "rsqrt", "sqrt", "rcp", "tanh", "div"}
INTEGER = {"add", "sub", "mul", "mad", "shl", "shr", "and", "or", "xor", "not", "neg", "abs",
           "min", "max", "rem", "popc", "clz", "bfe", "bfi", "brev", "prmt", "mul24", "mad24",
           "sad", "cnot", "lop3", "shf", "dp4a", "dp2a", "copysign", "testp"}
_TYPE = re.compile(r"\.(f32|f16|f16x2|bf16|bf16x2|f64|[sub](?:8|16|32|64)|pred)\b")
_ENTRY = re.compile(r"^\.(?:visible\s+)?\.entry\s+([A-Za-z_$][\w$.]*)\s*\(")
_LABEL = re.compile(r"^(\$?[\w$]+):\s*$")
_BRANCH = re.compile(r"\bbra(?:\.uni)?\s+(\$?[\w$]+)\s*;")
_GUARD = re.compile(r"setp\.gt\.u32\s+(%p\d+),\s*%r\d+,\s*(\d+)\s*;")
_LAUNCH = re.compile(r"^\s*\d+:\s+(\w+)\s+\[[^\]]*\]\s+(\S+)"
                     r"(?:\s+grid:\s*\[(\d+),\s*(\d+),\s*(\d+)\]\s+threads:\s*\[(\d+),\s*"
                     r"(\d+),\s*(\d+)\](?:\s+shared_memory:\s*(\d+))?)?")
LIBRARY_KINDS = {"kConvolution": "convolution_calls", "kGemm": "gemm_calls",
                 "kCublasLtMatmul": "gemm_calls", "kCuDnn": "convolution_calls"}


def classify(opcode: str) -> str:
    """The class of one PTX opcode with its modifiers (``fma.rn.f32``, ``ld.global.nc.b32``)."""
    parts = opcode.split(".")
    base = parts[0]
    if base == "ld" or base == "ldu":
        space = parts[1] if len(parts) > 1 else ""
        return {"global": "global_load", "shared": "shared_load", "param": "param_load",
                "local": "local_memory", "const": "other"}.get(space, "global_load")
    if base == "st":
        space = parts[1] if len(parts) > 1 else ""
        return {"global": "global_store", "shared": "shared_store",
                "local": "local_memory"}.get(space, "other")
    if base in ("atom", "red"):
        return "atomic"
    if base in ("bar", "barrier", "membar", "fence", "griddepcontrol"):
        return "barrier"
    if base == "shfl":
        return "shuffle"
    if base in ("bra", "ret", "call", "exit", "brx"):
        return "branch"
    if base in ("setp", "selp", "set", "slct"):
        return "compare_select"
    if base == "cvt":
        return "convert"
    if base in ("mov", "cvta", "cp", "prefetch", "isspacep"):
        return "move"
    types = _TYPE.findall(opcode)
    if base in SPECIAL and any(t.startswith("f") or t.startswith("bf") for t in types):
        return "special"
    if types and types[-1] in ("f32",):
        return "fp32"
    if types and types[-1] in ("f16", "f16x2", "bf16", "bf16x2"):
        return "fp16"
    if types and types[-1] == "f64":
        return "fp64"
    if base in ("fma",):
        return "fp32"
    if base in INTEGER:
        return "integer"
    return "other"


def _memory_bytes(opcode: str) -> int:
    """Bytes one thread moves with a load or store (vector width x element size)."""
    vector = re.search(r"\.v([248])\b", opcode)
    size = re.search(r"\.[bsuf](8|16|32|64)\b", opcode)
    return (int(vector.group(1)) if vector else 1) * (int(size.group(1)) // 8 if size else 4)


def parse_ptx(text: str) -> dict[str, dict]:
    """Per kernel (``.entry``) of a PTX module: instruction counts by class, bytes per
    thread, loop bodies and the bounds check's last index (``guard_last``, or None)."""
    kernels: dict[str, dict] = {}
    current, depth = None, 0
    body: list[str] = []
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if current is None:
            entry = _ENTRY.match(line)
            if entry:
                current, depth, body = entry.group(1), 0, []
            continue
        depth += line.count("{") - line.count("}")
        if depth <= 0 and "}" in line:
            kernels[current] = _kernel_counts(body)
            current = None
            continue
        body.append(line)
    return kernels


def _kernel_counts(lines: list[str]) -> dict:
    statements: list[tuple[str, str]] = []  # (label or "", instruction text)
    for line in lines:
        label = _LABEL.match(line)
        if label:
            statements.append((label.group(1), ""))
        elif not line.startswith(".") and line not in ("{", "}", ")"):
            for part in filter(None, (p.strip() for p in line.split(";"))):
                statements.append(("", part + ";"))
    labels = {name: i for i, (name, _) in enumerate(statements) if name}
    counts: Counter = Counter()
    guard_last = None
    pending_guard: dict[str, int] = {}
    first_branch_seen = False
    in_loop = [False] * len(statements)
    for i, (_, text) in enumerate(statements):
        target = _BRANCH.search(text)
        if target and labels.get(target.group(1), len(statements)) <= i:
            counts["loops"] += 1
            for j in range(labels[target.group(1)], i + 1):
                in_loop[j] = True
    for i, (_, text) in enumerate(statements):
        if not text:
            continue
        instruction = text.split(None, 1)
        opcode = instruction[0]
        if opcode.startswith("@"):  # predicated: the opcode follows the predicate
            predicate = opcode.lstrip("@!")
            opcode = instruction[1].split(None, 1)[0] if len(instruction) > 1 else ""
            branch = _BRANCH.search(text)
            if branch and not first_branch_seen and predicate in pending_guard \
                    and _exits(statements, labels.get(branch.group(1))):
                guard_last = pending_guard[predicate]
            first_branch_seen = first_branch_seen or bool(branch)
        elif _BRANCH.search(text):
            first_branch_seen = True
        opcode = opcode.rstrip(";")
        guard = _GUARD.search(text)
        if guard and not first_branch_seen:
            pending_guard[guard.group(1)] = int(guard.group(2))
        kind = classify(opcode)
        counts[kind] += 1
        counts["instructions"] += 1
        if in_loop[i]:
            counts["loop_instructions"] += 1
        if kind in ("global_load", "global_store"):
            counts[f"{kind}_bytes"] += _memory_bytes(opcode)
        elif kind in ("shared_load", "shared_store"):
            counts["shared_bytes"] += _memory_bytes(opcode)
    return {"counts": dict(counts), "guard_last": guard_last}


def _exits(statements, start: int | None) -> bool:
    """Whether the code at label index ``start`` returns at once."""
    if start is None:
        return False
    following = [text for _, text in statements[start + 1:start + 3] if text]
    return bool(following) and following[0].startswith("ret")


def parse_thunks(text: str) -> list[dict]:
    """The program's steps in order: ``{"kind", "name", "grid", "block", "shared_memory"}``
    (grid and block None for a library call)."""
    steps = []
    for line in text.splitlines():
        match = _LAUNCH.match(line)
        if not match:
            continue
        kind, name = match.group(1), match.group(2)
        grid = tuple(int(match.group(i)) for i in (3, 4, 5)) if match.group(3) else None
        block = tuple(int(match.group(i)) for i in (6, 7, 8)) if match.group(6) else None
        steps.append({"kind": kind, "name": name, "grid": grid, "block": block,
                      "shared_memory": int(match.group(9) or 0)})
    return steps


def analyse(ptx_texts: list[str], thunk_text: str) -> dict:
    """Totals over the program's launches (:data:`CLASSES` and :data:`TOTALS`), each
    kernel's counts times its active threads, and one record per launch."""
    kernels: dict[str, dict] = {}
    for text in ptx_texts:
        kernels.update(parse_ptx(text))
    totals: Counter = Counter()
    launches = []
    for step in parse_thunks(thunk_text):
        if step["grid"] is None:
            totals["library_calls"] += 1
            if step["kind"] in LIBRARY_KINDS:
                totals[LIBRARY_KINDS[step["kind"]]] += 1
            launches.append({"kind": step["kind"], "name": step["name"]})
            continue
        launched = math.prod(step["grid"]) * math.prod(step["block"])
        kernel = kernels.get(step["name"])
        if kernel is None:
            raise ValueError(f"kernel {step['name']} is launched but not in the PTX")
        last = kernel["guard_last"]
        active = launched if last is None else min(launched, last + 1)
        totals["launches"] += 1
        totals["threads"] += active
        totals["shared_memory_bytes"] += step["shared_memory"]
        for name, count in kernel["counts"].items():
            totals[name] += count * (1 if name == "loops" else active)
        counts = kernel["counts"]
        launches.append({"kind": step["kind"], "name": step["name"], "threads": active,
                         "instructions": counts.get("instructions", 0) * active,
                         "global_bytes": (counts.get("global_load_bytes", 0)
                                          + counts.get("global_store_bytes", 0)) * active})
    return {"totals": {k: float(totals[k]) for k in CLASSES + TOTALS},
            "launches": launches}


def analyse_dump(directory: Path) -> dict:
    """:func:`analyse` of the GPU module in an XLA dump folder (the one module compiled
    for a GPU: it has a thunk sequence)."""
    directory = Path(directory)
    sequences = sorted(p for p in directory.glob("*.thunk_sequence.txt"))
    if len(sequences) != 1:
        raise ValueError(f"{directory}: expected one GPU module's thunk sequence, found "
                         f"{len(sequences)}")
    module = sequences[0].name[:-len(".thunk_sequence.txt")]
    texts = [p.read_text() for p in sorted(directory.glob(f"{module}.*ptx"))]
    return analyse(texts, sequences[0].read_text())
