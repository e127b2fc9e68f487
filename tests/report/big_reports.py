"""Large hand-made reports for the email's size budget: 100 connectors in both directions over a
year, and over 12 weeks of trend where every window changes colour (the strip's worst case)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from etl.contract import TLS_BUCKETS
from etl.report.model import Thresholds, build_report

CONNECTORS = [f"{kind} Contoso Partner Subsidiary {i:03d}" for i, kind in
              ((i, ("Inbound from", "Outbound to")[i % 2]) for i in range(100))]


def _mix(rng: random.Random, total: int) -> dict[str, int]:
    weights = [rng.random() ** 3 for _ in TLS_BUCKETS]
    return {b: int(total * w / sum(weights)) for b, w in zip(TLS_BUCKETS, weights, strict=True)}


def big_report(days: int, windows: int, seed: int = 1, connectors: int = 100, no_data: tuple[int, ...] = ()) -> dict:
    """`days`-day window ending 2026-11-22, `connectors` connectors x 2 directions, `windows` windows of
    history (each of the window's length; those in `no_data` without any day loaded), one day missing
    in the window."""
    rng = random.Random(seed)
    end = date(2026, 11, 22)
    start = end - timedelta(days=days - 1)
    all_days = [start + timedelta(days=i) for i in range(days)]
    missing = all_days[days // 2]
    groups = [(c, d) for c in CONNECTORS[:connectors] for d in ("inbound", "outbound")]
    history, history_days, connector_tls = [], [], []
    for index in range(windows):
        first = start - timedelta(days=days * index)
        history_days.append({"window_index": index, "window_start": first,
                             "window_end": first + timedelta(days=days - 1), "days_expected": days,
                             "days_present": 0 if index in no_data else days - (index == 0)})
        if index in no_data:
            continue
        for connector, direction in groups:
            for bucket, n in _mix(rng, rng.randrange(100, 5000) * days).items():
                if n:
                    history.append({"window_index": index, "connector": connector, "direction": direction,
                                    "tls_version": bucket, "messages": n})
    for r in history:
        if r["window_index"] == 0:
            connector_tls.append({k: r[k] for k in ("connector", "direction", "tls_version", "messages")})
    snapshot = {}
    for r in connector_tls:
        key = (r["direction"], r["tls_version"])
        snapshot[key] = snapshot.get(key, 0) + r["messages"]
    daily = [{"date": day, "connector": c, "direction": d, "messages": rng.randrange(10, 500)}
             for day in all_days if day != missing for c, d in groups]
    return build_report(
        start=start, end=end, connector=None, direction=None, thresholds=Thresholds(),
        generated_at=datetime(2026, 11, 23, 6, tzinfo=UTC),
        days=[{"date": day, "loaded": day != missing, "rows_read": 1000, "rows_quarantined": 1, "messages": 990}
              for day in all_days],
        daily=daily, connector_tls=connector_tls,
        snapshot_tls=[{"direction": d, "tls_version": b, "messages": n} for (d, b), n in snapshot.items()],
        remote_domains=[{"connector": c, "direction": d, "tls_version": b, "remote_domain": f"domain{i}.example",
                         "messages": 10 - i} for c, d in groups for b in ("none", "TLS1.0") for i in range(5)],
        previous_days=[{"date": start - timedelta(days=days - i), "loaded": True} for i in range(days)],
        history_days=history_days, history=history)
