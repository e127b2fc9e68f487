"""Signed archives: with a private key (MAILFLOW_SIGNING_KEY), every manifest and every index line
is signed, so that an insider who can write the archive but does not hold the key cannot rewrite
its history unseen, provided the auditor checks against a copy of the public key kept elsewhere.

Ed25519 (RFC 8032) through `cryptography`: each revision's `manifest.sig` holds the 64-byte
signature of its manifest.json, which `openssl pkeyutl -verify -rawin` checks as it is; each index
line carries `signed_by` (the key's fingerprint) and `signature` (base64, over the line as it would
be without its `signature`). The public key is kept in the archive as `signing-keys/<fingerprint>.pem`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from etl.errors import ConfigError

SIGNATURE = "manifest.sig"
KEYS = "signing-keys"


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """`ed25519:` and the SHA-256 of the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_file_name(public_key: Ed25519PublicKey) -> str:
    return f"{KEYS}/{fingerprint(public_key).removeprefix('ed25519:')[:16]}.pem"


class Signer:
    def __init__(self, private_key: Ed25519PrivateKey):
        self._key = private_key
        self.public_key = private_key.public_key()
        self.fingerprint = fingerprint(self.public_key)

    @classmethod
    def from_setting(cls, value: str | None) -> Signer | None:
        """From MAILFLOW_SIGNING_KEY: a PEM file's path, or the PEM itself (from an Airflow connection)."""
        if not value:
            return None
        text = value if value.lstrip().startswith("-----BEGIN") else None
        try:
            data = text.encode() if text else Path(value).read_bytes()
        except OSError as exc:
            raise ConfigError(f"MAILFLOW_SIGNING_KEY: cannot read {value}: {exc.strerror}") from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            key = None
        if not isinstance(key, Ed25519PrivateKey):
            where = "the PEM given" if text else value
            raise ConfigError(f"MAILFLOW_SIGNING_KEY: {where} is not an unencrypted Ed25519 private key in PEM "
                              "(make one with `mailflow archive keygen`)")
        return cls(key)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def sign_entry(self, entry: dict) -> dict:
        """An index entry with its `signed_by` and `signature`."""
        signed = {**entry, "signed_by": self.fingerprint}
        return {**signed, "signature": base64.b64encode(self.sign(canonical(signed))).decode("ascii")}


def canonical(entry: dict) -> bytes:
    """An index line's bytes (etl.delivery.archive writes them this way)."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":")).encode("utf-8")


def load_public_key(data: bytes, source: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{source}: not an Ed25519 public key in PEM")
    return key


def verifies(public_key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def entry_verifies(public_key: Ed25519PublicKey, entry: dict) -> bool:
    unsigned = {k: v for k, v in entry.items() if k != "signature"}
    try:
        signature = base64.b64decode(entry["signature"], validate=True)
    except (KeyError, ValueError, TypeError):
        return False
    return verifies(public_key, signature, canonical(unsigned))


def generate_key(path: Path) -> Ed25519PublicKey:
    """A new private key, written to `path` readable by its owner only; returns its public key."""
    key = Ed25519PrivateKey.generate()
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb", opener=lambda name, flags: os.open(name, flags, 0o600)) as fh:  # never world-readable
        fh.write(data)
    return key.public_key()
