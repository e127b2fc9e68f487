"""DuckDB connections configured the same way everywhere."""

from __future__ import annotations

from pathlib import Path

import duckdb


def connect(database: Path | str = ":memory:", *, memory_limit: str = "1GB", spill_dir: Path | None = None,
            read_only: bool = False) -> duckdb.DuckDBPyConnection:
    # insertion order is kept: per-batch checks line up with their batch row for row
    config = {"memory_limit": memory_limit}
    if spill_dir is not None:
        config["temp_directory"] = str(spill_dir)
    con = duckdb.connect(str(database), read_only=read_only, config=config)
    # Timestamps without an offset mean UTC, and days are UTC days, whatever the machine's zone.
    run(con, "set TimeZone = 'UTC'")
    run(con, "set enable_progress_bar = false")
    return con


def run(con: duckdb.DuckDBPyConnection, query: str, params: dict | None = None) -> None:
    """Execute a statement whose result is not needed, and finish it (DuckDB 2 keeps it pending otherwise)."""
    con.execute(query, params).fetchall()


def one(con: duckdb.DuckDBPyConnection, query: str, params: dict | None = None) -> tuple:
    """The single row a query returns, with the result finished."""
    rows = con.execute(query, params).fetchall()
    if len(rows) != 1:
        raise ValueError(f"expected one row, got {len(rows)}")
    return rows[0]
