"""Reading Dakota parameters files and writing Dakota results files.

Dakota's pip wheel ships no ``dakota.interfacing`` module, so cyclecast reads and writes
the two formats itself. Both parameters formats are supported: standard
(``<value> <tag>`` lines) and APREPRO (``{ tag = value }`` lines). A batch parameters
file (``batch size`` in the deck) holds several evaluation blocks back to back; each
block starts with its ``variables`` count.
"""
from __future__ import annotations

import os
from pathlib import Path

_APREPRO_COUNTS = {"DAKOTA_VARS": "variables", "DAKOTA_FNS": "functions",
                   "DAKOTA_DER_VARS": "derivative_variables",
                   "DAKOTA_AN_COMPS": "analysis_components",
                   "DAKOTA_EVAL_ID": "eval_id", "DAKOTA_METADATA": "metadata"}


class ParametersFileError(ValueError):
    """The parameters file is not one Dakota writes."""


class Evaluation:
    """One evaluation block of a parameters file.

    ``variables`` maps descriptor to value; ``responses`` are the response descriptors in
    Dakota's order with their ``active_set`` codes; ``eval_id`` is Dakota's id as written
    (``"7"``, or ``"2:7"`` in batch mode, batch id first); ``number`` is the evaluation
    number (7 in both cases). A plain class: dataclasses cost the driver milliseconds.
    """

    __slots__ = ("variables", "responses", "active_set", "eval_id", "analysis_components")

    def __init__(self, variables: dict[str, int | float | str], responses: list[str],
                 active_set: list[int], eval_id: str, analysis_components: list[str]):
        self.variables = variables
        self.responses = responses
        self.active_set = active_set
        self.eval_id = eval_id
        self.analysis_components = analysis_components

    def __repr__(self) -> str:
        return f"Evaluation({self.eval_id}: {self.variables})"

    @property
    def number(self) -> int:
        return int(self.eval_id.rsplit(":", 1)[-1])


def _value(text: str) -> int | float | str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _pairs(lines: list[str]) -> list[tuple[str, str]]:
    """(tag, value) per line, for either format."""
    pairs = []
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        if stripped[0] == "{" and stripped[-1] == "}" and "=" in stripped:  # APREPRO
            tag, value = (part.strip() for part in stripped[1:-1].split("=", 1))
            pairs.append((_APREPRO_COUNTS.get(tag, tag), value))
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            raise ParametersFileError(f"unreadable line {line.strip()!r}")
        # String values may contain spaces in standard format: the tag is the last word.
        value, tag = line.strip().rsplit(None, 1)
        pairs.append((tag, value))
    return pairs


def _take_count(pairs, pos: int, tag: str) -> int:
    if pos >= len(pairs) or pairs[pos][0] != tag:
        found = pairs[pos][0] if pos < len(pairs) else "end of file"
        raise ParametersFileError(f"expected '{tag}' count, found {found!r}")
    return int(pairs[pos][1])


def parse_parameters(text: str) -> list[Evaluation]:
    """All evaluation blocks of a parameters file (one unless in batch mode)."""
    pairs = _pairs(text.splitlines())
    evaluations, pos = [], 0
    while pos < len(pairs):
        n_vars = _take_count(pairs, pos, "variables")
        pos += 1
        variables = {tag: _value(v) for tag, v in pairs[pos:pos + n_vars]}
        pos += n_vars
        n_fns = _take_count(pairs, pos, "functions")
        pos += 1
        names, asv = [], []
        for tag, value in pairs[pos:pos + n_fns]:
            asv.append(int(value))
            names.append(tag.split(":", 1)[1] if tag.startswith("ASV_") else tag)
        pos += n_fns
        n_der = _take_count(pairs, pos, "derivative_variables")
        pos += 1 + n_der
        n_comps = _take_count(pairs, pos, "analysis_components")
        pos += 1
        components = [v for _, v in pairs[pos:pos + n_comps]]
        pos += n_comps
        if pos >= len(pairs) or pairs[pos][0] != "eval_id":
            raise ParametersFileError("missing eval_id")
        eval_id = pairs[pos][1].strip()
        pos += 1
        if pos < len(pairs) and pairs[pos][0] == "metadata":
            pos += 1 + int(pairs[pos][1])
        evaluations.append(Evaluation(variables, names, asv, eval_id, components))
    if not evaluations:
        raise ParametersFileError("no evaluation in file")
    return evaluations


def read_parameters(path: Path) -> list[Evaluation]:
    try:
        return parse_parameters(Path(path).read_text())
    except ParametersFileError as err:
        raise ParametersFileError(f"{path}: {err}") from None


def format_results(blocks: list[dict[str, float] | None], names: list[str],
                   batch: bool = False) -> str:
    """Results text: one block per evaluation in order; ``None`` marks a failure.

    Blocks after the first are preceded by a line starting with ``#``, as Dakota
    expects in batch mode. A failure is written as ``FAIL``, which Dakota's
    ``failure_capture`` reacts to; in batch mode Dakota 6.24 aborts the whole study on
    ``FAIL`` even under ``failure_capture recover``, so there a failure is written as
    ``nan`` for every response, which Dakota stores as it would a recovered failure.
    """
    out = []
    for i, responses in enumerate(blocks):
        if i:
            out.append("#")
        if responses is None and batch:
            out.extend(f"nan {name}" for name in names)
        elif responses is None:
            out.append("FAIL")
        else:
            out.extend(f"{float(responses[name])!r} {name}" for name in names)
    return "\n".join(out) + "\n"


def write_results(path: Path, blocks: list[dict[str, float] | None], names: list[str],
                  batch: bool = False) -> None:
    """Write atomically: Dakota must never read a half-written results file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(format_results(blocks, names, batch))
    os.replace(tmp, path)
