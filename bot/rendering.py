"""Jinja2 rendering for templates/: the adapter behind core's `Renderer` port."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


class JinjaRenderer:
    """Renders text templates (`*.txt.j2`) verbatim and HTML ones (`*.html.j2`) autoescaped."""

    def __init__(self, directory: Path = TEMPLATES_DIR) -> None:
        self._env = Environment(
            loader=FileSystemLoader(directory),
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
            undefined=StrictUndefined,  # a typo in a template fails loudly, not as blank text
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, names: Sequence[str], context: Mapping[str, object]) -> str:
        return self._env.select_template(list(names)).render(**context)

    def select(self, names: Sequence[str]) -> str:
        name: str = self._env.select_template(list(names)).name or names[0]
        return name
