"""The HTML outputs: escaping, self-containment, and a real browser opening the report."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from etl.report.model import Thresholds, build_report
from etl.report.render import render
from tests.conftest import write_outputs

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
EVIL_CONNECTOR = "<script>alert(1)</script>"
EVIL_DOMAIN = '"><img src=x onerror=alert(1)>'


def evil_report() -> dict:
    day = "2026-11-16"
    tls = [(EVIL_CONNECTOR, "outbound", "none", 40), (EVIL_CONNECTOR, "outbound", "TLS1.2", 60),
           ("Relay", "inbound", "TLS1.0", 70), ("Relay", "inbound", "TLS1.2", 30), (None, "inbound", "TLS1.3", 90)]
    return build_report(
        start=datetime(2026, 11, 16).date(), end=datetime(2026, 11, 17).date(), connector=None, direction=None,
        thresholds=Thresholds(), generated_at=datetime(2026, 11, 23, 6, tzinfo=UTC),
        days=[{"date": day, "loaded": True, "rows_read": 300, "rows_quarantined": 3, "messages": 290},
              {"date": "2026-11-17", "loaded": False, "rows_read": None, "rows_quarantined": None, "messages": None}],
        daily=[{"date": day, "connector": c, "direction": d, "messages": n} for c, d, _, n in tls],
        connector_tls=[{"connector": c, "direction": d, "tls_version": b, "messages": n} for c, d, b, n in tls],
        snapshot_tls=[{"direction": d, "tls_version": b, "messages": n} for _, d, b, n in tls],
        remote_domains=[{"connector": EVIL_CONNECTOR, "direction": "outbound", "tls_version": "none",
                         "remote_domain": EVIL_DOMAIN, "messages": 40},
                        {"connector": "Relay", "direction": "inbound", "tls_version": "TLS1.0",
                         "remote_domain": "relay.example", "messages": 70}],
    )


@pytest.mark.parametrize("fmt", ["html", "email"])
def test_names_from_the_data_are_escaped(fmt):
    html = render(evil_report(), fmt).decode()
    assert EVIL_CONNECTOR not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html


def test_report_html_is_self_contained():
    html = render(evil_report(), "html").decode()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html, re.I)
    assert "<svg" in html and "<style>" in html
    assert "missing" in html and "2026-11-17" in html


def test_email_html_is_safe_for_mail_clients():
    html = render(evil_report(), "email").decode()
    for forbidden in ("<svg", "<script", "<style", "<img", "http://", "https://"):
        assert forbidden not in html.lower(), forbidden
    assert 'bgcolor="#c62828"' in html  # bars and markers are table cells
    assert "missing: no data loaded" in html


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium, installed when missing (the tests run as root, as CI does)."""
    if not CHROMIUM.exists():
        if shutil.which("apt-get") is None:
            pytest.fail("chromium is missing and apt-get is not available to install it")
        env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env, capture_output=True,
                       timeout=1200)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-quic"])
        yield browser
        browser.close()


def test_a_browser_opens_the_report_and_the_dropdown_switches_connector(chromium, tmp_path):
    (path,) = write_outputs(evil_report(), tmp_path, ("html",))
    page = chromium.new_page(viewport={"width": 1100, "height": 900})
    problems = []
    page.on("console", lambda message: message.type in ("error", "warning") and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    page.goto(path.as_uri())

    rows = page.locator("section:has(#tls) tbody tr")
    assert rows.count() == 3
    assert page.locator("#connector").is_visible()
    labels = page.locator("#connector option").all_inner_texts()
    assert labels == ["All mail flow", EVIL_CONNECTOR, "Relay", "No connector"]

    page.select_option("#connector", label="Relay")
    visible = [r.inner_text().split("\t")[0] for r in rows.all() if r.is_visible()]
    assert visible == ["Relay"]
    assert page.locator(".insight:visible").count() == 1

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-relay.png"), full_page=True)
    page.select_option("#connector", value="")
    assert sum(1 for r in rows.all() if r.is_visible()) == 3
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert problems == []
    page.close()


def test_without_javascript_everything_stays_readable(chromium, tmp_path):
    (path,) = write_outputs(evil_report(), tmp_path, ("html",))
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(path.as_uri())
    assert not page.locator("#connector").is_visible()  # the drop-down needs JS; the data does not
    assert page.locator("section:has(#tls) tbody tr:visible").count() == 3
    context.close()


RLO_NAME = "Conn\u202etxt.exe"  # shows as "Connexe.txt" and turns what follows it around
LONG_NAME = "L" * 5000
TWO_LINES = "Two\nLines"


def hostile_report() -> dict:
    tls = [(RLO_NAME, "inbound", "none", 40), (RLO_NAME, "inbound", "TLS1.2", 60),
           (LONG_NAME, "outbound", "TLS1.2", 10), (TWO_LINES, "outbound", "TLS1.3", 10)]
    day = datetime(2026, 11, 16).date()
    return build_report(
        start=day, end=day, connector=None, direction=None, thresholds=Thresholds(),
        generated_at=datetime(2026, 11, 23, 6, tzinfo=UTC),
        days=[{"date": day, "loaded": True, "rows_read": 120, "rows_quarantined": 0, "messages": 120}],
        daily=[{"date": day, "connector": c, "direction": d, "messages": n} for c, d, _, n in tls],
        connector_tls=[{"connector": c, "direction": d, "tls_version": b, "messages": n} for c, d, b, n in tls],
        snapshot_tls=[{"direction": d, "tls_version": b, "messages": n} for _, d, b, n in tls],
        remote_domains=[{"connector": RLO_NAME, "direction": "inbound", "tls_version": "none",
                         "remote_domain": "evil\u202eexample", "messages": 40}])


def test_hostile_names_cannot_garble_the_outputs():
    import csv
    import io
    import json

    from etl.report.csv_views import view_csvs

    report = hostile_report()
    text = render(report, "txt").decode()
    assert "\u202e" not in text and "\n" + "Lines" not in text
    assert "Conn\\u202Etxt.exe (inbound): No TLS is over 25%" in text and "Two\\u000ALines" in text
    assert "evil\\u202Eexample (40)" in text
    assert all(len(line) < 200 for line in text.splitlines() if "LLLL" in line)  # 5,000 characters cut at 80
    assert "L" * 32 + "…" in text  # its table column is 33 characters wide
    assert "L" * 79 + "…" in text and "L" * 80 not in text  # elsewhere it is cut at 80

    email = render(report, "email").decode()
    assert "\u202e" not in email
    shown = re.findall(r'<bdi(?: title="([^"]*)")?>([^<]*)</bdi>', email)
    assert ("", "Conn\\u202Etxt.exe") in shown
    assert (LONG_NAME, "L" * 79 + "…") in shown  # shortened where shown, whole in its title

    html = render(report, "html").decode()
    assert "<bdi>Conn\\u202Etxt.exe</bdi>" in html and "\u202e" not in html
    assert f'<bdi title="{LONG_NAME}">{"L" * 79}…</bdi>' in html and LONG_NAME + "<" not in html

    rows = list(csv.reader(io.StringIO(view_csvs(report)["tls_usage.csv"].decode())))
    assert len(rows) == 4 and {r[0] for r in rows[1:]} == {"Conn\\u202Etxt.exe", LONG_NAME, "Two\\u000ALines"}
    assert {c["connector"] for c in json.loads(render(report, "json"))["connectors"]} == {
        RLO_NAME, LONG_NAME, TWO_LINES}  # JSON keeps every name exactly


def test_hostile_names_keep_both_layouts_in_a_browser(chromium, tmp_path):
    """The email stays at its 680-pixel width and the report at the window's, with a 5,000-character
    name, a right-to-left override and a line break among the connectors."""
    ARTIFACTS.mkdir(exist_ok=True)
    for fmt, name, width in (("email", "email.html", 760), ("html", "report.html", 1100)):
        path = tmp_path / name
        path.write_bytes(render(hostile_report(), fmt))
        page = chromium.new_page(viewport={"width": width, "height": 900})
        page.goto(path.as_uri())
        assert page.evaluate("document.documentElement.scrollWidth") <= width, fmt
        if fmt == "email":
            assert page.evaluate("document.querySelector('table[width=\"680\"]').getBoundingClientRect().width") <= 682
        page.screenshot(path=str(ARTIFACTS / f"hostile-{name}.png"), full_page=True)
        page.close()


@pytest.mark.parametrize("days, windows", [(366, 2), (7, 12)])
def test_the_email_stays_under_100_kb_with_100_connectors_both_ways(days, windows):
    """A year (its daily flow folded into weeks) and a week with 12 windows of trend whose strips change
    colour at every window: at most 100 KB, and what is left out is counted, not silently dropped."""
    from tests.report.big_reports import big_report

    report = big_report(days, windows)
    assert len(report["connectors"]) == 200 and len(report["trend"]["windows"]) == windows
    email = render(report, "email").decode()
    assert len(email.encode()) <= 100_000
    shown_rows = email.count('<tr bgcolor="#')
    more_rows = int(re.search(r"([\d,]+) more connector rows", email).group(1).replace(",", ""))
    assert shown_rows + more_rows == 200
    more_insights = int(re.search(r"([\d,]+) more insights", email).group(1).replace(",", ""))
    assert email.count("<td width=\"4\" bgcolor=") + more_insights == len(report["insights"])
    if days > 31:
        assert "All mail flow by week" in email and email.count("2026-11-16 to 2026-11-22") == 1
        assert "of 7 days missing" in email
    # the full report keeps every row and every day
    html = render(report, "html").decode()
    assert html.count('<td class="trend">') == 200


def test_a_month_or_less_keeps_the_email_daily_and_whole():
    from tests.report.big_reports import big_report

    report = big_report(31, 2)
    report["connectors"] = report["connectors"][:20]
    report["insights"] = [i for i in report["insights"]
                          if (i["connector"], i["direction"]) in {(c["connector"], c["direction"])
                                                                  for c in report["connectors"]}]
    email = render(report, "email").decode()
    assert "All mail flow by day" in email and "more connector rows" not in email and "more insights" not in email


def test_the_trend_sparklines_are_drawn_and_readable_without_javascript(chromium, tmp_path):
    from tests.report.big_reports import big_report

    report = big_report(7, 12, connectors=3, no_data=(4,))  # a week 4 weeks back has no day loaded
    (path,) = write_outputs(report, tmp_path, ("html",))
    page = chromium.new_page(viewport={"width": 1100, "height": 900})
    problems = []
    page.on("console", lambda message: message.type in ("error", "warning") and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(path.as_uri())
    sparks = page.locator("svg.spark")
    assert sparks.count() == 6
    box = sparks.first.bounding_box()
    assert box["width"] >= 130 and box["height"] >= 28
    # three shares, each broken at the week without data: two runs of lines per share
    assert sparks.first.locator("polyline").count() == 6
    label = sparks.first.get_attribute("aria-label")
    assert label.startswith("Encrypted share per window, oldest first: ") and label.count("no data") == 1
    titles = sparks.first.locator("rect title").all_text_contents()
    assert len(titles) == 12 and sum("no data" in t for t in titles) == 1
    assert sum("incomplete: 6 of 7 days" in t for t in titles) == 1  # this week, a day missing
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("section:has(#changes)").screenshot(path=str(ARTIFACTS / "report-trend.png"))
    assert problems == []
    page.close()

    context = chromium.new_context(java_script_enabled=False)
    static = context.new_page()
    static.goto(path.as_uri())
    assert static.locator("#changes").is_visible() and static.locator("svg.spark").first.is_visible()
    assert static.locator("svg.spark").count() == 6
    context.close()
