"""Signed archives: an insider without the key cannot rewrite history unseen by the public key."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys

import pytest

from etl.delivery.archive import Archive
from etl.delivery.signing import generate_key, load_public_key, public_pem
from etl.errors import ConfigError
from etl.pipeline import send_report
from etl.storage import Storage
from tests.conftest import archive_report
from tests.delivery.test_archive import OUTBOX
from tests.delivery.test_mail import NOW
from tests.delivery.test_witness import rewrite_history
from tests.report.test_report_html import evil_report


@pytest.fixture
def signed(cfg, tmp_path):
    """An archive signed with a fresh key: two revisions of one report, the first one mailed."""
    key = tmp_path / "keys" / "archive.pem"
    public_key = generate_key(key)
    cfg = dataclasses.replace(cfg, signing_key=str(key))
    first = archive_report(cfg, evil_report(), OUTBOX, reason=None, now=NOW)
    send_report(cfg, first.report_id, 1, OUTBOX)
    archive_report(cfg, evil_report(), OUTBOX, reason="late data", now=NOW)
    return cfg, first, public_key


def test_a_signed_archive_verifies_with_its_public_key_and_openssl_agrees(signed):
    cfg, first, public_key = signed
    archive = Archive(Storage(cfg))
    assert archive.verify(public_key=public_key) == []
    assert archive.signature_note(public_key) == "signatures checked against the public key given"
    entries = archive.entries()
    assert [e["event"] for e in entries] == ["archived", "sent", "archived"]
    assert all(e["signed_by"].startswith("ed25519:") and e["signature"] for e in entries)
    (kept,) = (archive.store.root / "signing-keys").iterdir()
    assert kept.read_bytes() == public_pem(public_key)
    # the manifest's signature is checked by standard tools as it is
    done = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(kept), "-rawin",
                           "-in", str(first.path / "manifest.json"), "-sigfile", str(first.path / "manifest.sig")],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "Signature Verified Successfully" in done.stdout


def test_an_insider_rewrite_without_the_key_fails_the_signature_check(signed):
    cfg, first, public_key = signed
    archive = Archive(Storage(cfg))
    rewrite_history(archive, first.location, "report.html", b"40.0%", b"4.0%")
    problems = archive.verify(public_key=public_key)
    assert f"{first.report_id} r1: manifest.json signature does not verify (changed after signing, or signed by " \
           "another key)" in problems
    assert "index line 1: signature does not verify (changed after signing, or signed by another key)" in problems
    assert len(problems) == 4  # the manifest, and every line rewritten from it on


def test_stripping_the_signatures_leaves_it_unsigned_which_the_public_key_names(signed):
    cfg, first, public_key = signed
    archive = Archive(Storage(cfg))
    os.chmod(first.path, 0o750)
    (first.path / "manifest.sig").unlink()
    index = archive.store.index_location()
    lines, previous = [], "0" * 64
    for raw in index.read_bytes().splitlines():
        entry = {k: v for k, v in json.loads(raw).items() if k not in ("signature", "signed_by")}
        entry["prev_sha256"] = previous
        line = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
        lines.append(line)
        previous = hashlib.sha256(line).hexdigest()
    index.write_bytes(b"".join(line + b"\n" for line in lines))
    archive.store.write_head({"lines": len(lines), "last_sha256": previous})
    assert archive.verify() == []  # without the public key, an unsigned archive is just unsigned
    assert archive.signature_note().startswith("signatures not checked")
    problems = archive.verify(public_key=public_key)
    assert "index line 1: unsigned" in problems and f"{first.report_id} r1: manifest.json unsigned" in problems


def test_keygen_and_verify_from_the_command_line(cfg, tmp_path):
    env = {**os.environ, "MAILFLOW_HOME": str(cfg.home)}

    def mailflow(*args, **extra):
        return subprocess.run([sys.executable, "-m", "etl", *args], capture_output=True, text=True,
                              env={**env, **extra}, timeout=120)

    key = tmp_path / "archive.pem"
    made = mailflow("archive", "keygen", "--out", str(key))
    assert made.returncode == 0 and oct(key.stat().st_mode)[-3:] == "600"
    assert mailflow("archive", "keygen", "--out", str(key)).returncode == 2  # never overwritten
    archive_report(dataclasses.replace(cfg, signing_key=str(key)), evil_report(), OUTBOX, reason=None, now=NOW)
    checked = mailflow("archive", "verify", "--public-key", f"{key}.pub")
    assert checked.returncode == 0 and "signatures checked against the public key given" in checked.stderr
    other = tmp_path / "other.pem"
    generate_key(other)
    wrong = mailflow("archive", "verify", "--public-key", str(other))  # a private key file is no public key
    assert wrong.returncode == 2 and "not an Ed25519 public key" in wrong.stderr


def test_a_bad_signing_key_is_one_error(cfg, tmp_path):
    (tmp_path / "not-a-key.pem").write_text("hello")
    with pytest.raises(ConfigError, match="is not an unencrypted Ed25519 private key"):
        Archive(Storage(dataclasses.replace(cfg, signing_key=str(tmp_path / "not-a-key.pem"))))
    with pytest.raises(ConfigError, match="not an Ed25519 public key"):
        load_public_key(b"-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----\n", "k.pem")
