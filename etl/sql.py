"""Load the SQL files in `sql/`: one statement per file, named after what it produces."""

from __future__ import annotations

from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


@cache
def load(name: str) -> str:
    """The text of sql/<name>.sql (name may include a subfolder, e.g. 'schema/daily_load')."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
