"""Hostile input costs bounded memory and time: a record past the limit is quarantined without being
held whole, a quote never closed swallows at most the limit, a file of garbage lines is quarantined
at the speed of good ones, and a decompression bomb stops. The big versions are measured by
`mailflow bench hostile`; these are the same cases at a size a test can afford."""

from __future__ import annotations

import gzip
from datetime import date

import pytest

from etl.errors import ExportError
from etl.load.ingest import ingest_day
from etl.sources.csv_reader import MAX_RECORD_BYTES, RAW_SAMPLE_BYTES
from etl.storage import QUARANTINE
from tests.conftest import csv_bytes, row
from tests.load.test_ingest import assert_reconciles, lake_rows

DAY = date(2026, 11, 9)


def good(i: int) -> bytes:
    return csv_bytes([row(message_id=f"<{i}@x>")]).split(b"\r\n", 1)[1]  # one record, no header


def test_a_line_longer_than_the_limit_is_quarantined_with_its_true_length(cfg, export):
    huge = b"2026-11-09T10:00:00Z,a@x.com,b@y.com,Secret subject," + b"A" * (3 * MAX_RECORD_BYTES) + b"\r\n"
    data = csv_bytes([row()]) + huge + good(2) + good(3)
    result = ingest_day(cfg, DAY, [export(raw=data)])
    (q,) = lake_rows(cfg, QUARANTINE)
    assert (q["source_line"], q["reason"]) == (3, "record_too_long")
    assert len(q["raw"]) < RAW_SAMPLE_BYTES + 100 and f"the record is {len(huge) - 2:,} bytes" in q["raw"]
    assert "Secret" not in q["raw"]  # the Subject field is emptied here too
    assert [r["source_line"] for r in lake_rows(cfg)] == [2, 4, 5]
    assert_reconciles(result)


def test_a_long_record_inside_one_chunk_is_quarantined_too(cfg, export):
    data = csv_bytes([row(), row(size="1" * (MAX_RECORD_BYTES + 10), message_id="<big@x>"), row(message_id="<3@x>")])
    ingest_day(cfg, DAY, [export(raw=data)])
    assert [(q["source_line"], q["reason"]) for q in lake_rows(cfg, QUARANTINE)] == [(3, "record_too_long")]
    assert [r["source_line"] for r in lake_rows(cfg)] == [2, 4]


def test_a_quote_never_closed_swallows_at_most_the_limit(cfg, export):
    unclosed = b'2026-11-09T11:00:00Z,a@x.com,b@y.com,"never closed,Delivered\r\n'
    following = b"".join(good(i) for i in range(3, 40_000))  # about 9 MB of good records after it
    data = csv_bytes([row()]) + unclosed + following
    result = ingest_day(cfg, DAY, [export(raw=data)])
    (q,) = lake_rows(cfg, QUARANTINE)
    assert (q["source_line"], q["reason"]) == (3, "record_too_long")
    # it ends at the first newline past the limit; the records it took are in its quarantined text
    swallowed = (unclosed + following)[:(unclosed + following).find(b"\n", MAX_RECORD_BYTES) + 1]
    assert f"the record is {len(swallowed) - 2:,} bytes" in q["raw"]  # its line end not counted
    resumes_at = 3 + swallowed.count(b"\n")
    assert [r["source_line"] for r in lake_rows(cfg)] == [2, *range(resumes_at, 40_001)]  # true line numbers
    assert_reconciles(result)


def test_a_file_of_garbage_lines_is_quarantined_line_by_line(cfg, export):
    lines = [b"garbage %d" % i for i in range(5_000)]
    data = csv_bytes([row()]) + b"\n".join(lines[:2_500]) + b"\n" + good(9) + b"\n".join(lines[2_500:]) + b"\n"
    result = ingest_day(cfg, DAY, [export(raw=data)])
    quarantined = lake_rows(cfg, QUARANTINE)
    assert len(quarantined) == 5_000 and {q["reason"] for q in quarantined} == {"ragged_row"}
    assert (quarantined[0]["source_line"], quarantined[0]["raw"]) == (3, "garbage 0")
    assert [r["source_line"] for r in lake_rows(cfg)] == [2, 2_503]
    assert_reconciles(result)


def test_a_decompression_bomb_stops_with_one_line(cfg, tmp_path):
    bomb = tmp_path / "trace_2026-11-09.csv.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as fh:
        fh.write(csv_bytes([row()]))
        block = b"a" * (1 << 20)
        for _ in range(80):  # 80 MiB that compress to well under 1 MiB
            fh.write(block)
    with pytest.raises(ExportError, match=r"^trace_2026-11-09.csv.gz: inflates to more than 100 times its size"):
        ingest_day(cfg, DAY, [bomb])
    assert not (cfg.home / "lake" / "trace").exists()


def test_an_overlong_log_line_is_quarantined_and_the_log_read_on(cfg, tmp_path):
    from etl.sources.detect import SourceOptions
    from tests.sources.test_postfix import FIXTURES

    lines = (FIXTURES / "mail.log").read_bytes().split(b"\n")
    huge = b"Nov 20 08:00:00 mx1 postfix/smtpd[999]: " + b"x" * (2 * MAX_RECORD_BYTES)
    log = tmp_path / "mail.log"
    log.write_bytes(b"\n".join([lines[0], huge, *lines[1:]]))
    options = SourceOptions(format="postfix", connectors=FIXTURES / "connectors.toml")
    result = ingest_day(cfg, date(2026, 11, 20), [log], options)
    rejects = {(q["source_line"], q["reason"]): q["raw"] for q in lake_rows(cfg, QUARANTINE, day=date(2026, 11, 20))}
    raw = rejects[(2, "record_too_long")]
    assert len(raw) < RAW_SAMPLE_BYTES + 100 and f"the record is {len(huge):,} bytes" in raw
    plain = tmp_path / "plain" / "mail.log"
    plain.parent.mkdir()
    plain.write_bytes(b"\n".join(lines))
    without = ingest_day(cfg, date(2026, 11, 20), [plain], options)
    assert (result.rows_loaded, result.rows_quarantined) == (without.rows_loaded, without.rows_quarantined + 1)


def test_a_100_mb_line_is_read_in_bounded_memory(tmp_path):
    """Peak RSS of an ingest of one 100 MB line stays near that of an empty one (before: 960 MiB for
    50 MB). Measured in a child process; `mailflow bench hostile` measures the full-size cases."""
    import json
    import os
    import subprocess
    import sys

    path = tmp_path / "trace_2026-11-09.csv"
    with open(path, "wb") as fh:
        fh.write(csv_bytes([row()]))
        for _ in range(100):
            fh.write(b"a" * 1_000_000)
        fh.write(b"\r\n")
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent (pytest, itself
    # hundreds of MiB) across exec, while VmHWM is this program's own peak
    code = ("import json, sys\nfrom datetime import date\nfrom etl.config import settings\n"
            "from etl.load.ingest import ingest_day\n"
            "r = ingest_day(settings(), date(2026, 11, 9), [sys.argv[1]])\n"
            "hwm = next(line for line in open('/proc/self/status') if line.startswith('VmHWM:'))\n"
            "print(json.dumps({'reasons': r.quarantine_reasons, 'peak_mib': int(hwm.split()[1]) / 1024}))")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MAILFLOW_HOME": str(tmp_path / "home")})
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["reasons"] == {"record_too_long": 1}
    assert result["peak_mib"] < 400, result
