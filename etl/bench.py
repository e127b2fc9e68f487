"""Benchmark: our ingest against DuckDB's plain CSV -> zstd Parquet copy of the same file.

Both run in this process's run, on the same file, one after the other, so the ratio
holds on a noisy shared machine where absolute seconds do not. Each side runs in a
fresh child process so that its peak RSS is its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

BENCH_DAY = date(2026, 11, 10)  # a Tuesday: full weekday volume

_OURS = """
import json, resource, sys, time
from datetime import date
from pathlib import Path
from etl.config import settings
from etl.ingest import ingest_day
t = time.perf_counter()
r = ingest_day(settings(), date.fromisoformat(sys.argv[1]), [Path(sys.argv[2])])
print(json.dumps({"seconds": time.perf_counter() - t, "rows_read": r.rows_read, "rows_loaded": r.rows_loaded,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

# The baseline skips the sample's few malformed rows: a plain read_csv would stop at them.
_BASELINE = """
import json, resource, sys, time
import duckdb
t = time.perf_counter()
con = duckdb.connect()
con.execute("copy (select * from read_csv($src, ignore_errors = true)) to $dst (format parquet, compression zstd)",
            {"src": sys.argv[1], "dst": sys.argv[2]}).fetchall()
print(json.dumps({"seconds": time.perf_counter() - t,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _child(code: str, *args: str, env: dict | None = None) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args],  # noqa: S603 - our own code, our own files
                          capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_ingest(rows: int, workdir: Path | None = None, repeats: int = 2) -> int:
    from .sample import write_day

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp_path = Path(tmp)
        export = tmp_path / f"trace_{BENCH_DAY.isoformat()}.csv"
        t = time.perf_counter()
        write_day(export, BENCH_DAY, rows, seed=7)
        size_mib = export.stat().st_size / 2**20
        print(f"generated {rows:,} rows ({size_mib:,.0f} MiB) in {time.perf_counter() - t:.1f}s")
        env = {**os.environ, "MAILFLOW_HOME": str(tmp_path / "home")}
        ours, base = [], []
        for _ in range(repeats):  # interleaved, best of each, to damp the machine's noise
            base.append(_child(_BASELINE, str(export), str(tmp_path / "baseline.parquet")))
            ours.append(_child(_OURS, BENCH_DAY.isoformat(), str(export), env=env))
        best_ours = min(ours, key=lambda r: r["seconds"])
        best_base = min(base, key=lambda r: r["seconds"])
        peak_mib = max(r["peak_rss_kib"] for r in ours) / 1024
        ratio = best_ours["seconds"] / best_base["seconds"]
        print(f"duckdb plain copy : {best_base['seconds']:7.2f}s  peak RSS {best_base['peak_rss_kib'] / 1024:7.0f} MiB")
        print(f"our ingest        : {best_ours['seconds']:7.2f}s  peak RSS {peak_mib:7.0f} MiB  "
              f"({best_ours['rows_read'] / best_ours['seconds']:,.0f} rows/s)")
        print(f"ratio ours/copy   : {ratio:7.2f}x   (target <= 1.5x; peak RSS target <= 1536 MiB at 10M rows)")
    return 0
