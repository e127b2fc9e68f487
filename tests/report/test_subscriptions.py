"""subscriptions.toml: each mistake is one line naming the file and the entry."""

from __future__ import annotations

import pytest

from etl.errors import ConfigError
from etl.report.subscriptions import Subscription, load_subscriptions, parse_subscriptions

GOOD = b"""
[[subscription]]
name = "partners"
recipients = ["partner-manager@contoso.com"]
cadence = "weekly"
connectors = ["Partner *", "Fabrikam"]
direction = "outbound"
skip_when_no_insights = true

[[subscription]]
name = "ciso"
recipients = "ciso@contoso.com"
cadence = "monthly"
"""


def test_a_good_file():
    assert parse_subscriptions(GOOD, "subscriptions.toml") == [
        Subscription("partners", ("partner-manager@contoso.com",), "weekly", ("Partner *", "Fabrikam"), "outbound",
                     True),
        Subscription("ciso", ("ciso@contoso.com",), "monthly"),
    ]


@pytest.mark.parametrize("change, message", [
    (('cadence = "monthly"', 'cadence = "daily"'), "subscription 2 ('ciso'): cadence must be weekly or monthly"),
    (('name = "ciso"', 'name = "CISO report"'), "subscription 2 ('CISO report'): name must be lowercase"),
    (('name = "ciso"', 'name = "partners"'), "subscription 2 ('partners'): the name is used by an earlier"),
    (('"ciso@contoso.com"', '"ciso"'), "subscription 2 ('ciso'): 'ciso' is not an email address"),
    (('direction = "outbound"', 'direction = "internal"'), "subscription 1 ('partners'): direction must be"),
    (("skip_when_no_insights = true", "skip_when_no_insight = true"), "unknown key 'skip_when_no_insight'"),
    (('cadence = "weekly"', 'cadence = "weekly'), "not valid TOML"),
    (('[[subscription]]\nname = "ciso"', '[subscriptions]\nname = "ciso"'), "unknown table 'subscriptions'"),
])
def test_each_mistake_is_one_line_naming_the_entry(change, message):
    with pytest.raises(ConfigError, match=r"^subscriptions\.toml: ") as caught:
        parse_subscriptions(GOOD.replace(*(c.encode() for c in change), 1), "subscriptions.toml")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_default_file_may_be_absent_but_a_configured_one_may_not(tmp_path, monkeypatch):
    monkeypatch.delenv("MAILFLOW_SUBSCRIPTIONS", raising=False)
    assert load_subscriptions(tmp_path) == []
    monkeypatch.setenv("MAILFLOW_SUBSCRIPTIONS", str(tmp_path / "elsewhere.toml"))
    with pytest.raises(ConfigError, match="elsewhere.toml: no such subscriptions file"):
        load_subscriptions(tmp_path)


def test_a_single_table_is_not_a_list_of_entries():
    with pytest.raises(ConfigError, match="one table per entry"):
        parse_subscriptions(b'[subscription]\nname = "ciso"\n', "subscriptions.toml")
