"""Render files from ``templates/`` with Jinja2; an undefined variable is an error."""
from __future__ import annotations

import functools
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


@functools.lru_cache(maxsize=1)
def _environment():
    import shlex

    import jinja2  # imported on first use: the analysis driver stays light

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.filters["shquote"] = lambda value: shlex.quote(str(value))  # for shell templates
    return env


def render(template: str, **context) -> str:
    return _environment().get_template(template).render(**context)
