"""The one rounding rule for every share the pipeline shows: the report's outputs (HTML, email,
text, JSON, CSV), the quality gate's verdict and `mailflow status`.

Shares are rounded by largest remainder, so that a row of shares adds up to exactly 100; one
decimal by default, more where one decimal would show a share that is strictly above a threshold
as equal to or below it (1,001 of 2,000 is 50.05%, not 50.0%, when the rule is "above 50%").
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

MAX_DECIMALS = 6


def percentages(counts: dict[str, int], order: tuple[str, ...], decimals: int = 1) -> dict[str, float]:
    """Shares of the total in percent, rounded to `decimals`, adding up to exactly 100.

    Each share is floored to the unit; the units still missing go to the largest remainders
    (ties to the key listed first). All zeros when the total is zero.
    """
    total = sum(counts.get(k, 0) for k in order)
    if total == 0:
        return {k: 0.0 for k in order}
    whole = 100 * 10**decimals
    units = {k: counts.get(k, 0) * whole // total for k in order}
    remainders = {k: counts.get(k, 0) * whole % total for k in order}
    missing = whole - sum(units.values())
    for k in sorted(order, key=lambda k: (-remainders[k], order.index(k)))[:missing]:
        units[k] += 1
    return {k: units[k] / 10**decimals for k in order}


def percentage(part: int, total: int) -> float:
    """One share of a whole, by the same rule (a two-way split: the part and the rest)."""
    return percentages({"part": part, "rest": total - part}, ("part", "rest"))["part"]


def percentage_above(part: int, total: int, threshold: float) -> float:
    """One share of a whole, with the decimals it takes to show above `threshold` when it is."""
    return percentages_above({"part": part, "rest": total - part}, ("part", "rest"), [("part", threshold)])["part"]


def percentages_above(counts: dict[str, int], order: tuple[str, ...],
                      thresholds: Iterable[tuple[str, float]]) -> dict[str, float]:
    """`percentages` with as few decimals (one at least) as it takes for every share that is
    strictly above its threshold to show above it: (bucket, threshold) pairs."""
    total = sum(counts.get(k, 0) for k in order)
    above = [(k, t) for k, t in thresholds if total and Fraction(100 * counts.get(k, 0), total) > Fraction(str(t))]
    for decimals in range(1, MAX_DECIMALS + 1):
        shares = percentages(counts, order, decimals)
        if all(shares[k] > t for k, t in above):
            return shares
    return shares


def format_pct(share: float) -> str:
    """`50.0%`, `50.05%`: one decimal, or as many as the share was rounded to."""
    text = repr(float(share))
    decimals = max(1, len(text.partition(".")[2])) if "e" not in text else MAX_DECIMALS
    return f"{share:.{min(decimals, MAX_DECIMALS)}f}%"


def format_points(change: float | None) -> str:
    """A change in percentage points, signed (`+3.0`, `−15.0`, `0.0`) with as many decimals as the
    shares it is the difference of; `–` when there is nothing to compare with."""
    if change is None:
        return "–"
    change = round(change, MAX_DECIMALS)  # 64.6 - 100.0 is -35.400000000000006 in floating point
    text = format_pct(abs(change))[:-1]
    if change > 0:
        return "+" + text
    return "−" + text if change < 0 else text
