"""Embedded backend of the accelerator family: ZigZag's cost model (KU Leuven's
``zigzag-dse``, 3.9.1) scores one explicit schedule of one layer in-process, no mapping
search.

The machine is the family's (:mod:`..families.accelerator.arch`), the one the
``timeloop`` backend renders: DRAM (W, I, O) -> a shared global buffer (I, O) -> ``pes``
PEs, each an input (I), weight (W) and accumulation (O) buffer -> ``macs / pes`` MACs. The
operational array has two dimensions: D1, a PE's MACs (the ``macs`` spatial level), and
D2, the PEs (``pes``); a PE buffer serves D1 (one per PE), the global buffer and DRAM
serve both. An operand lists only the memories that keep it (bypass): W: weight -> DRAM,
I: input -> global -> DRAM, O: accum -> global -> DRAM. Every datum is one 8-bit word
everywhere, partial sums too. A memory has a read and a write port of
``words_per_cycle(level)`` words per cycle per instance, shared by its operands.

A schedule is one loop nest (temporal levels inner to outer, each in its loop order,
factor-1 loops dropped); a loop at family level L belongs, for an operand, to the
innermost memory of that operand's chain at or above L.

Timeloop (v3.0.3, the family's reference) is a throughput model: cycles are the compute
cycles or, when slower, the busiest level's reads (or writes) over its bandwidth. Where
ZigZag's model differs, this backend makes it count as Timeloop does:

- ZigZag moves each transfer in whole cycles, at least one, so small transfers sharing a
  port serialise: it counts :func:`subcycles` per cycle (its ``cycles_per_op``), ports of
  that many times fewer bits per (sub-)cycle;
- every memory is double-buffered (ZigZag: only where a tile fits twice);
- draining partial sums upwards reads on a port of its own (Timeloop counts no read for it);
- a partial sum is refilled only after its first visit (ZigZag's transfer periods refill
  on every visit, although its access counts do not);
- an input tile is a box, (P - 1) * stride + R wide (ZigZag counts the indices a strided
  window touches), and a memory sends its children one tile per distinct child tile
  (:func:`input_fanout`), and consecutive input windows of a sweep share their overlap
  (:func:`input_window_refetch`).

With these, Timeloop's formula on ZigZag's transfers gives Timeloop's cycles (within
0.5%). The cycles reported are ZigZag's own latency, which adds the start-up load and the
final drain that Timeloop's steady state leaves out: a median 0.1% more, up to ~20% on a
short layer whose busiest port is saturated (against timeloop-model, 960 generated
schedules on the five presets).

Energy uses simple per-word access energies (:func:`word_energy_pj`): an SRAM word costs
``0.25 pJ * sqrt(KiB)``, a DRAM word 64 pJ (8 pJ/bit), a MAC 0.5 pJ. They rank schedules
sensibly; they are not calibrated against Timeloop's or Accelergy's tables.

Validity is the family's: a schedule it marks invalid is ``valid = 0`` without calling
ZigZag (which neither rejects an overflowing tile nor an over-wide spatial unrolling).
"""
from __future__ import annotations

import copy
import math
from functools import lru_cache

from ....errors import EvaluationFailed
from ...backend import Backend as _Base
from ..arch import STORAGE, WORD_BITS
from ..designs import design
from ..layers import DIMS
from ..schedule import LEVELS, TEMPORAL

TYPE_CHECKING = False  # typing costs the driver milliseconds at start-up
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Mapping

    from ..arch import Accelerator
    from ..layers import Layer
    from ..schedule import Schedule

RESPONSES = ("cycles", "energy_uj", "utilization", "valid")
NAN = float("nan")
#: Family dimension -> ZigZag loop dimension (ZigZag's convolution names).
ZZ_DIM = {"R": "FX", "S": "FY", "P": "OX", "Q": "OY", "C": "C", "K": "K", "N": "B"}
#: Family data type -> ZigZag memory operand.
MEM_OP = {"W": "I2", "I": "I1", "O": "O"}
#: Each data type's memories, inner to outer (the levels that keep it).
CHAIN = {k: tuple(lv for lv in STORAGE if k in STORAGE[lv]) for k in MEM_OP}
PE_LEVELS = ("accum", "weight", "input")  # one per PE: they serve D1 only
MAC_PJ = 0.5
DRAM_WORD_PJ = 64.0
DRAM_BITS = 1 << 50  # DRAM is unbounded


def word_energy_pj(accel: Accelerator, level: str) -> float:
    """Energy of reading or writing one word at ``level`` (pJ)."""
    if level == "dram":
        return DRAM_WORD_PJ
    return 0.25 * math.sqrt(getattr(accel, f"{level}_buffer_kib"))


def subcycles(accel: Accelerator) -> int:
    """Sub-cycles per cycle: the largest number dividing every port's bits per cycle, so
    that the narrowest port moves one bit per sub-cycle."""
    return math.gcd(*(accel.words_per_cycle(level) * WORD_BITS for level in STORAGE))


def hardware(accel: Accelerator) -> dict[str, Any]:
    """ZigZag's accelerator description (its YAML schema, as a dict): ports in bits per
    sub-cycle; an access of a port's width costs that many bits' energy."""
    memories = {}
    for level, kinds in STORAGE.items():  # inner to outer, as ZigZag wants them
        ops = [MEM_OP[k] for k in kinds]
        bits = accel.words_per_cycle(level) * WORD_BITS // subcycles(accel)

        def port(name, kind, allocation, bits=bits):  # bandwidth_min 1: exact access counts
            return {"name": name, "type": kind, "bandwidth_min": 1, "bandwidth_max": bits,
                    "allocation": allocation}

        ports = [port("r_port_1", "read", [f"{op}, tl" for op in ops]),
                 port("w_port_1", "write", [f"{op}, fh" for op in ops]
                      + (["O, fl"] if "O" in ops else []))]
        if "O" in ops and level != "dram":  # draining partial sums upwards
            ports.append(port("r_port_2", "read", ["O, th"]))
        cost = word_energy_pj(accel, level) * bits / WORD_BITS
        memories[level] = {
            "size": DRAM_BITS if level == "dram" else accel.buffer_words(level) * WORD_BITS,
            "r_cost": cost, "w_cost": cost, "area": 0.0, "latency": 1, "operands": ops,
            "ports": ports,
            "served_dimensions": ["D1"] if level in PE_LEVELS else ["D1", "D2"]}
    return {"name": "cyclecast_simba", "memories": memories,
            "operational_array": {"unit_energy": MAC_PJ, "unit_area": 1.0,
                                  "dimensions": ["D1", "D2"],
                                  "sizes": [accel.macs_per_pe, accel.pes]}}


# ------------------------------------------------------------------ ZigZag objects, cached

def _validated(validator_class, data, what: str):
    import logging

    logging.getLogger("zigzag").setLevel(logging.CRITICAL)
    validator = validator_class(data)
    normalized = validator.normalized_data
    if not validator.validate():
        raise EvaluationFailed(f"ZigZag refuses the {what}: "
                               f"{getattr(validator.validator, 'errors', '')!s:.200}", "error")
    return normalized


@lru_cache(maxsize=64)
def _core(accel: Accelerator):
    """ZigZag's Accelerator (one core) of ``accel``, parsed once."""
    from zigzag.parser.accelerator_factory import AcceleratorFactory
    from zigzag.parser.accelerator_validator import AcceleratorValidator

    core = AcceleratorFactory(_validated(AcceleratorValidator, hardware(accel),
                                         "accelerator")).create()
    hierarchy = core.memory_hierarchy  # it sorts its memories on every call: once is enough
    hierarchy.get_memory_levels = lru_cache(maxsize=None)(  # type: ignore[method-assign]
        hierarchy.get_memory_levels)  # ZigZag's own method, memoised on this one object
    return core


def _box(sa: int, a: int, sb: int, b: int) -> int:
    """Extent of ``sa * i + sb * j`` for i < a, j < b: an input tile's width."""
    return sa * (a - 1) + sb * (b - 1) + 1


@lru_cache(maxsize=64)
def _layer_node(layer: Layer):
    """ZigZag's LayerNode of ``layer``: a convolution, 8-bit operands and partial sums,
    input tiles as boxes."""
    from zigzag.parser.mapping_validator import MappingValidator
    from zigzag.parser.workload_factory import LayerNodeFactory
    from zigzag.parser.workload_validator import WorkloadValidator

    s = layer.stride
    data = [{"id": 0, "name": layer.name, "operator_type": "Conv",
             "equation": "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]",
             "dimension_relations": [f"ix={s}*ox+1*fx", f"iy={s}*oy+1*fy"],
             "loop_dims": [ZZ_DIM[d] for d in DIMS], "loop_sizes": list(layer.bounds()),
             "operand_precision": dict.fromkeys(("W", "I", "O", "O_final"), WORD_BITS),
             "operand_source": {"I": 0}}]
    mapping = [{"name": "default", "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}]
    node = LayerNodeFactory(_validated(WorkloadValidator, data, "layer")[0],
                            _validated(MappingValidator, mapping, "mapping")).create()
    # ZigZag's method and its None-typed attribute, replaced on this one node (see _box)
    node.calc_pr_dimension_size = _box  # type: ignore[method-assign]
    node.pr_layer_dim_sizes = type(node.pr_layer_dim_sizes)(  # type: ignore[misc]
        {dim: node.calc_pr_dimension_size_total(dim) for dim in node.pr_loop})
    node.extract_layer_info()
    return node


@lru_cache(maxsize=1)
def _names():
    from zigzag.datatypes import LayerDim, LayerOperand

    return {d: LayerDim(ZZ_DIM[d]) for d in DIMS}, {k: LayerOperand(k) for k in MEM_OP}


@lru_cache(maxsize=1024)
def _spatial(layer: Layer, macs: tuple[int, ...], pes: tuple[int, ...]):
    """ZigZag's spatial mapping per memory level: D1 (a PE's MACs) unrolls below every
    operand's first memory, D2 (the PEs) below its second."""
    from zigzag.mapping.spatial_mapping_internal import SpatialMappingInternal

    dim, operand = _names()
    d1 = [(dim[d], f) for d, f in zip(DIMS, macs, strict=True) if f > 1]
    d2 = [(dim[d], f) for d, f in zip(DIMS, pes, strict=True) if f > 1]
    per_level = {operand[k]: [list(d1), list(d2)] + [[] for _ in chain[1:]]
                 for k, chain in CHAIN.items()}
    # _names() gives ZigZag's LayerDim / LayerOperand objects; its annotations do not say so
    return SpatialMappingInternal(per_level, _layer_node(layer))  # type: ignore[arg-type]


# ------------------------------------------------------------------ the schedule

def temporal_loops(schedule: Schedule) -> dict[str, list[list[tuple[str, int]]]]:
    """Per data type, per memory of its chain (inner to outer), the loops (dimension,
    factor) that memory holds, innermost first."""
    out: dict[str, list[list[tuple[str, int]]]] = {k: [[] for _ in chain]
                                                   for k, chain in CHAIN.items()}
    for level in TEMPORAL:
        at, row = LEVELS.index(level), schedule.at(level)
        for d in schedule.order(level):
            if row[d] > 1:
                for k, chain in CHAIN.items():
                    owner = next(i for i, lv in enumerate(chain) if LEVELS.index(lv) >= at)
                    out[k][owner].append((d, row[d]))
    return out


def input_fanout(layer: Layer, schedule: Schedule) -> list[float]:
    """Input tiles a memory sends per tile one child needs, at each spatial level (a PE's
    MACs, then the PEs), as Timeloop counts: one per distinct child tile (identical tiles
    are multicast, overlapping ones are not). ZigZag's own factor, the children's bounding
    box over one child's, shares overlaps and counts the gaps between windows."""
    s = layer.stride
    below = dict.fromkeys(DIMS, 1)
    out = []
    for level in ("macs", "pes"):
        f = schedule.at(level)
        distinct = f["C"] * f["N"]
        for p, r in (("P", "R"), ("Q", "S")):  # a child's window starts at these offsets
            distinct *= len({i * s * below[p] + j * below[r]
                             for i in range(f[p]) for j in range(f[r])})
        out.append(float(distinct))
        for lv in LEVELS[LEVELS.index(level):LEVELS.index("pes")]:
            for d, v in schedule.at(lv).items():
                below[d] *= v
    return out


def input_window_refetch(layer: Layer, schedule: Schedule, loops=None) -> list[float]:
    """Share of a child's input tile fetched per iteration into the input buffer (from the
    global buffer), then into the global buffer (from DRAM), as Timeloop counts: when the
    innermost loop of the sending memory moves the input window (P, Q, R or S), each sweep
    fetches its first window whole and then only what a window adds to the one before.
    ZigZag fetches every window whole."""
    s = layer.stride
    loops = (loops or temporal_loops(schedule))["I"]
    out = []
    for sender, child in ((1, "input"), (2, "global")):
        share = 1.0
        if loops[sender] and loops[sender][0][0] in "PQRS":
            d, n = loops[sender][0]
            t = schedule.tile(child)
            p, r = ("P", "R") if d in "PR" else ("Q", "S")
            width = (t[p] - 1) * s + t[r]
            step = s * t[p] if d == p else t[r]
            share = (width + (n - 1) * min(width, step)) / (n * width)
        out.append(share)
    return out


def _scale(move, direction, factor: float) -> None:
    from zigzag.mapping.data_movement import DataMoveAttr

    amounts = move.get_attribute(DataMoveAttr.DATA_TRANS_AMOUNT_PER_PERIOD)
    amounts.set(direction, amounts.get(direction) * factor)


def _as_timeloop_counts(mapping, layer, refetch: list[float]) -> None:
    """Per-period transfers of ``mapping`` made Timeloop's: partial sums refilled only
    after their first visit, input windows refetched by the ``refetch`` shares."""
    from zigzag.mapping.data_movement import DataDirection, DataMoveAttr

    down, up = DataDirection.RD_OUT_TO_LOW, DataDirection.WR_IN_BY_HIGH
    moves = mapping.unit_mem_data_movement[layer.output_operand]
    for lv, move in enumerate(moves):
        counts = move.get_attribute(DataMoveAttr.DATA_ELEM_MOVE_COUNT)
        updates = counts.get(DataDirection.WR_IN_BY_LOW)
        if updates:  # ZigZag's counts leave the first visit's refill out, its periods not
            needed = counts.get(down) / updates
            _scale(move, down, needed)
            if lv:
                _scale(moves[lv - 1], up, needed)
    moves = mapping.unit_mem_data_movement[next(o for o in layer.input_operands
                                                if o.name == "I")]
    for sender, share in enumerate(refetch, start=1):
        _scale(moves[sender], down, share)
        _scale(moves[sender - 1], up, share)


@lru_cache(maxsize=1)
def _evaluation_class():
    """CostModelEvaluation with one Mapping (ZigZag builds a second one for fractional
    spatial unrollings, which a family schedule never has), Timeloop's transfer counts and
    every memory double-buffered."""
    from zigzag.cost_model.cost_model import CostModelEvaluation
    from zigzag.mapping.mapping import Mapping

    class Evaluation(CostModelEvaluation):
        def __init__(self, accelerator, layer, spatial, temporal, cycles_per_op, refetch):
            self.accelerator, self.layer = accelerator, layer
            self.spatial_mapping = self.spatial_mapping_int = spatial
            self.spatial_mapping_dict_int = spatial.mapping_dict_origin
            self.temporal_mapping = temporal
            self.access_same_data_considered_as_no_access = True
            self.mem_level_list = accelerator.memory_hierarchy.mem_level_list
            self.mem_hierarchy_dict = accelerator.mem_hierarchy_dict
            self.mem_size_dict = accelerator.mem_size_dict
            self.mem_sharing_tuple = tuple(tuple(i.items()) for i in accelerator.mem_sharing_list)
            self.memory_operand_links = layer.memory_operand_links
            self.cumulative_layer_ids = []
            self.mapping = self.mapping_int = Mapping(accelerator, spatial, temporal, layer, True)
            self.active_mem_level = self.mapping.mem_level
            self.cycles_per_op = cycles_per_op
            _as_timeloop_counts(self.mapping, layer, refetch)
            self.run()

        def calc_double_buffer_flag(self):  # index 0: the MACs' operand registers
            self.double_buffer_true = {op: [True] * (n + 1)
                                       for op, n in self.mapping_int.mem_level.items()}

    return Evaluation


def evaluation(accel: Accelerator, layer: Layer, schedule: Schedule):
    """ZigZag's CostModelEvaluation of one schedule (times in sub-cycles)."""
    from zigzag.mapping.temporal_mapping import TemporalMapping, TemporalMappingType

    dim, operand = _names()
    node = _layer_node(layer)
    spatial = copy.copy(_spatial(layer, schedule.factors[LEVELS.index("macs")],
                                 schedule.factors[LEVELS.index("pes")]))
    boost = spatial.mem_bw_boost
    spatial.mem_bw_boost = {**boost, operand["I"]: input_fanout(layer, schedule)
                            + boost[operand["I"]][2:]}
    loops = temporal_loops(schedule)
    temporal = TemporalMapping({operand[k]: [[(dim[d], f) for d, f in lv] for lv in levels]
                                for k, levels in loops.items()}, node, TemporalMappingType.EVEN)
    return _evaluation_class()(_core(accel), node, spatial, temporal, subcycles(accel),
                               input_window_refetch(layer, schedule, loops))


def score(accel: Accelerator, layer: Layer, schedule: Schedule) -> dict[str, float]:
    """cycles (the layer's, start-up load and final drain included), energy_uj and
    utilization (of the MACs, 0..1) of a schedule the family accepts."""
    cme = evaluation(accel, layer, schedule)
    return {"cycles": float(cme.latency_total2) / subcycles(accel),
            "energy_uj": float(cme.energy_total) * 1e-6,
            "utilization": float(cme.mac_utilization2)}


class Backend(_Base):
    name = "zigzag"
    family = "accelerator"
    in_process = True
    parallel = True  # milliseconds per schedule: worth a worker per core
    response_names = RESPONSES
    objectives = ("cycles", "energy_uj")
    response_kinds = {"valid": "binary"}

    @classmethod
    def unavailable_reason(cls, settings: Mapping[str, Any]) -> str | None:
        from importlib.util import find_spec

        missing = [name for name in ("zigzag", "six") if find_spec(name) is None]
        if missing:
            return (f"cannot import {' and '.join(missing)}: pip install zigzag-dse==3.9.1 "
                    "six (see requirements.txt)")
        return None

    def evaluate(self, point: Mapping[str, Any], workdir: Path) -> dict[str, float | str]:
        accel, layer, schedule, broken = design(point, self.settings)
        if broken:
            return {"cycles": NAN, "energy_uj": NAN, "utilization": NAN, "valid": 0.0,
                    "note": "invalid: " + ", ".join(broken)}
        try:
            return {**score(accel, layer, schedule), "valid": 1.0}
        except EvaluationFailed:
            raise
        except Exception as err:  # noqa: BLE001 - any failure inside ZigZag is this point's
            raise EvaluationFailed(f"ZigZag: {type(err).__name__}: {err!s:.200}",
                                   "error") from None
