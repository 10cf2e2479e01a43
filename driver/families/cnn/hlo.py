"""Dynamic code analysis of XLA's optimised HLO: what the compiled program does, counted
per kind of operation and weighted by how often each part runs.

Every instruction counts its output elements (an elementwise op does one operation per
output element); a fusion counts the instructions of its fused computation; a ``while``
counts its body and condition times its known trip count (XLA's ``known_trip_count``;
once when unknown); a ``call`` or ``conditional`` counts what it calls. Convolutions count
multiply-accumulates: output elements x the kernel's window x input features per group,
split into dense (one group), depthwise (one input feature per group) and grouped
convolutions (on a GPU program, cuDNN's convolution calls); a ``dot`` (or a cuBLAS call)
counts output elements x its contracted size. Reductions count
their input elements, ``reduce-window`` its output elements x the window.

The top-level instructions of the entry computation are the program's kernels (on the
CPU: loops XLA generated or library calls); each kernel's bytes are those of its operands
and its output, the traffic between kernels. :func:`analyse` returns the totals and one
record per kernel (what a roofline estimate needs). Pure text processing, tested on HLO
XLA really produced.
"""
from __future__ import annotations

import math
import re
from collections import Counter

DTYPE_BYTES = {"pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2, "bf16": 2,
               "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8, "c64": 8,
               "c128": 16, "s4": 1, "u4": 1, "f8e4m3fn": 1, "f8e5m2": 1}
TRANSCENDENTAL = {"exponential", "exponential-minus-one", "log", "log-plus-one", "tanh",
                  "logistic", "rsqrt", "sqrt", "cbrt", "power", "erf", "sine", "cosine",
                  "tan", "atan2"}
MOVEMENT = {"broadcast", "transpose", "copy", "concatenate", "slice", "dynamic-slice",
            "dynamic-update-slice", "pad", "reshape", "reverse", "gather", "scatter", "iota",
            "copy-start", "copy-done"}
FREE = {"parameter", "constant", "bitcast", "get-tuple-element", "tuple", "after-all",
        "opt-barrier", "partition-id", "replica-id"}
ELEMENTWISE = {"add", "subtract", "multiply", "divide", "maximum", "minimum", "clamp",
               "select", "compare", "negate", "abs", "convert", "and", "or", "not", "xor",
               "sign", "floor", "ceil", "round-nearest-afz", "round-nearest-even",
               "remainder", "is-finite", "shift-left", "shift-right-logical",
               "shift-right-arithmetic", "popcnt", "clz", "real", "imag",
               "reduce-precision", "map", "bitcast-convert", "stochastic-convert"}
#: Counter keys of :func:`analyse` (totals and per kernel).
COUNTS = ("conv_dense_macs", "conv_depthwise_macs", "conv_grouped_macs", "dot_macs",
          "elementwise_ops", "transcendental_ops", "reduce_ops", "movement_elements",
          "other_elements")

_HEADER = re.compile(r"^(ENTRY\s+)?%?([^\s(]+)\s*\(.*\{\s*$")
_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%?([^\s=]+)\s*=\s*(.+?)\s+([a-z][a-z0-9-]*)\((.*?)\)"
                          r"(?:,\s*(.*))?$")
_ARRAY = re.compile(r"\b([a-z]+[0-9]*[a-z0-9]*)\[([0-9,]*)\]")
_CALLED = re.compile(r"\b(calls|to_apply|body|condition)=%?([^\s,}]+)")
_BRANCHES = re.compile(r"branch_computations=\{([^}]*)\}")
_TRIPS = re.compile(r'"known_trip_count"\s*:\s*\{\s*"n"\s*:\s*"?([0-9]+)')


def arrays(type_text: str) -> list[tuple[str, tuple[int, ...]]]:
    """(dtype, dims) of every array in an HLO type (one, or several in a tuple)."""
    return [(d, tuple(int(x) for x in dims.split(",") if x))
            for d, dims in _ARRAY.findall(type_text) if d in DTYPE_BYTES]


def elements(type_text: str) -> int:
    found = arrays(type_text)
    return math.prod(found[0][1]) if found else 0


def nbytes(type_text: str) -> int:
    return sum(DTYPE_BYTES[d] * math.prod(dims) for d, dims in arrays(type_text))


class Instruction:
    __slots__ = ("name", "type", "op", "operands", "attrs")

    def __init__(self, name, type_text, op, operands, attrs):
        self.name, self.type, self.op, self.attrs = name, type_text, op, attrs or ""
        self.operands = [o.strip().split()[-1].lstrip("%") for o in operands.split(",")
                         if o.strip() and "%" in o]


def parse(text: str) -> tuple[dict[str, list[Instruction]], str]:
    """Computations (name -> instructions in order) and the entry computation's name."""
    computations: dict[str, list[Instruction]] = {}
    entry, current = "", None
    for line in text.splitlines():
        if current is None:
            header = _HEADER.match(line)
            if header and not line.startswith("HloModule"):
                current = computations.setdefault(header.group(2).lstrip("%"), [])
                if header.group(1):
                    entry = header.group(2).lstrip("%")
            continue
        if line.strip() == "}":
            current = None
            continue
        match = _INSTRUCTION.match(line)
        if match:
            current.append(Instruction(*match.groups()))
    if not entry:
        raise ValueError("no ENTRY computation in the HLO text")
    return computations, entry


def _conv_macs(inst: Instruction, types: dict[str, str]) -> tuple[str, int]:
    out = elements(inst.type)
    kernel = arrays(types.get(inst.operands[1], "")) if len(inst.operands) > 1 else []
    labels = re.search(r"dim_labels=[^_]+_([^-]+)->", inst.attrs)
    if not kernel or not labels or len(labels.group(1)) != len(kernel[0][1]):
        return "conv_dense_macs", out
    dims = dict(zip(labels.group(1), kernel[0][1], strict=True))
    per_output = math.prod(v for k, v in dims.items() if k != "o")
    groups = int((re.search(r"feature_group_count=([0-9]+)", inst.attrs) or [0, 1])[1])
    kind = ("conv_dense_macs" if groups == 1 else
            "conv_depthwise_macs" if dims.get("i", 0) == 1 else "conv_grouped_macs")
    return kind, out * per_output


def _dot_macs(inst: Instruction, types: dict[str, str]) -> int:
    lhs = arrays(types.get(inst.operands[0], "")) if inst.operands else []
    found = re.search(r"lhs_contracting_dims=\{([0-9,]*)\}", inst.attrs)
    if not lhs or not found:
        return elements(inst.type)
    shape = lhs[0][1]
    return elements(inst.type) * math.prod(shape[int(d)] for d in found.group(1).split(",")
                                           if d)


_CUDNN_CONV = 'custom_call_target="__cudnn$conv'
_GEMM = re.compile(r'custom_call_target="__cublas\$(?:lt\$matmul|gemm)')
_GEMM_CONTRACTING = re.compile(r'"lhs_contracting_dimensions"\s*:\s*\[([^\]]*)\]')


def _gemm_macs(inst: Instruction, types: dict[str, str]) -> int:
    """A cuBLAS call's MACs: output elements x the contracted size (its backend config
    names the contracting dimensions, as a dot's attributes do)."""
    lhs = arrays(types.get(inst.operands[0], "")) if inst.operands else []
    found = _GEMM_CONTRACTING.search(inst.attrs)
    if not lhs or not found:
        return elements(inst.type)
    dims = [int(d.strip().strip('"')) for d in found.group(1).split(",") if d.strip()]
    return elements(inst.type) * math.prod(lhs[0][1][d] for d in dims)


def _count(name: str, comps: dict, weight: float, out: Counter, depth: int = 0) -> None:
    """Add the work of computation ``name`` (run ``weight`` times) to ``out``."""
    if depth > 64:
        raise ValueError("HLO computations nest more than 64 deep")
    instructions = comps.get(name, [])
    types = {i.name: i.type for i in instructions}
    for inst in instructions:
        _count_instruction(inst, types, comps, weight, out, depth)


def _count_instruction(inst, types, comps, weight, out: Counter, depth: int) -> None:
    op = inst.op
    called = dict(_CALLED.findall(inst.attrs))
    if op == "fusion":
        out["fused_instructions"] += weight * len(comps.get(called.get("calls", ""), ()))
        _count(called.get("calls", ""), comps, weight, out, depth + 1)
    elif op == "while":
        trips = _TRIPS.search(inst.attrs)
        n = int(trips.group(1)) if trips else 1
        out["unknown_trip_loops"] += 0 if trips else 1
        for key in ("body", "condition"):
            _count(called.get(key, ""), comps, weight * n, out, depth + 1)
    elif op in ("call", "async-start"):
        _count(called.get("to_apply") or called.get("calls", ""), comps, weight, out, depth + 1)
    elif op == "conditional":
        branches = _BRANCHES.search(inst.attrs)
        names = [b.strip().lstrip("%") for b in branches.group(1).split(",")] if branches else []
        for branch in names[:1]:  # the first branch stands for all
            _count(branch, comps, weight, out, depth + 1)
    elif op == "convolution" or (op == "custom-call" and _CUDNN_CONV in inst.attrs):
        kind, macs = _conv_macs(inst, types)  # a GPU program's convolutions are cuDNN calls
        out[kind] += weight * macs
    elif op == "custom-call" and _GEMM.search(inst.attrs):
        out["dot_macs"] += weight * _gemm_macs(inst, types)
    elif op == "dot":
        out["dot_macs"] += weight * _dot_macs(inst, types)
    elif op == "reduce":
        source = types.get(inst.operands[0], "") if inst.operands else ""
        out["reduce_ops"] += weight * elements(source)
    elif op == "reduce-window":
        size = re.search(r"window=\{size=([0-9x]+)", inst.attrs)
        window = math.prod(int(s) for s in size.group(1).split("x")) if size else 1
        out["reduce_ops"] += weight * elements(inst.type) * window
    elif op in TRANSCENDENTAL:
        out["transcendental_ops"] += weight * elements(inst.type)
    elif op in ELEMENTWISE:
        out["elementwise_ops"] += weight * elements(inst.type)
    elif op in MOVEMENT:
        out["movement_elements"] += weight * elements(inst.type)
    elif op not in FREE:
        out["other_elements"] += weight * elements(inst.type)
        if op == "custom-call":
            out["custom_calls"] += weight


def analyse(text: str) -> dict:
    """Totals (``COUNTS`` plus kernels, fusions, bytes) and ``kernels``: per top-level
    instruction of the entry computation, its op, counts and bytes."""
    comps, entry = parse(text)
    instructions = comps[entry]
    types = {i.name: i.type for i in instructions}
    totals: Counter = Counter()
    kernels = []
    for inst in instructions:
        if inst.op in FREE:
            continue
        counts: Counter = Counter()
        _count_instruction(inst, types, comps, 1, counts, 0)
        moved = nbytes(inst.type) + sum(nbytes(types.get(o, "")) for o in inst.operands)
        kernels.append({"op": inst.op, "bytes": moved,
                        **{k: counts[k] for k in COUNTS if counts[k]}})
        totals.update(counts)
        totals["kernel_bytes"] += moved
        totals["kernels"] += 1
        totals["fusions"] += inst.op == "fusion"
    params = [i for i in instructions if i.op == "parameter"]
    root = next((i for i in reversed(instructions)), None)
    summary = {k: float(totals[k]) for k in COUNTS + ("kernel_bytes", "kernels", "fusions",
                                                       "fused_instructions", "custom_calls",
                                                       "unknown_trip_loops")}
    summary["parameter_bytes"] = float(sum(nbytes(p.type) for p in params))
    summary["output_bytes"] = float(nbytes(root.type)) if root else 0.0
    summary["hlo_instructions"] = float(sum(len(v) for v in comps.values()))
    return {"totals": summary, "kernels": kernels}
