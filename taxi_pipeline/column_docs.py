"""Every column's description, from one file: the dbt project's docs blocks
(`dbt_project/models/docs/columns.md`). The dbt models' schema.yml refers to them with
dbt's `doc()`, the trip tables' columns (services.py) read them here, so the catalog
says the same of `tip_amount` in the warehouse table and in `fact_trips`."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

DOCS_FILE = Path(__file__).resolve().parent / "dbt_project" / "models" / "docs" / "columns.md"
_BLOCK = re.compile(r"\{%-?\s*docs\s+(\w+)\s*-?%\}(.*?)\{%-?\s*enddocs\s*-?%\}", re.S)


@cache
def column_docs() -> dict[str, str]:
    """name -> description, as dbt reads the blocks (whitespace around the text trimmed)."""
    return {name: " ".join(text.split()) for name, text in _BLOCK.findall(DOCS_FILE.read_text())}


def doc(name: str, note: str = "") -> str:
    """The block `name`'s text, with a service's own `note` after it."""
    try:
        text = column_docs()[name]
    except KeyError:
        raise KeyError(f"no docs block {name!r} in {DOCS_FILE}") from None
    return f"{text} {note}".strip()
