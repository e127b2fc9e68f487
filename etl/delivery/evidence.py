"""An evidence bundle: one archived revision as a zip an auditor checks with standard tools only.

    <report>-r<N>/files/...        the revision's files as archived (manifest.json, manifest.sig,
                                   receipt.json, the outputs, message.eml)
    <report>-r<N>/index.jsonl      the index from its first line to the last one about this revision
    <report>-r<N>/SHA256SUMS       the manifest's file hashes, in sha256sum's format
    <report>-r<N>/signing-key.pem  the archive's public key, when it is signed
    <report>-r<N>/VERIFY.txt       what each check proves, and the command that makes it

Every command in VERIFY.txt (the lines starting with `$ `) runs as written in bash from the
bundle's folder, needs only coreutils, grep and openssl, and exits non-zero when its check fails.
"""

from __future__ import annotations

import io
import json
import zipfile

from etl.delivery.archive import GENESIS, RECEIPT, Archive, Revision
from etl.delivery.signing import SIGNATURE
from etl.storage.archive_files import MANIFEST


def export_bundle(archive: Archive, revision: Revision) -> bytes:
    manifest_bytes = archive.read(revision, MANIFEST)
    manifest = json.loads(manifest_bytes)
    names = [*sorted(manifest["files"]), MANIFEST]
    for optional in (SIGNATURE, RECEIPT):
        if archive.store.read(revision.location, optional) is not None:
            names.append(optional)
    lines = archive.store.index_lines()
    mine = [n for n, entry in enumerate(map(json.loads, lines), start=1)
            if (entry.get("report_id"), entry.get("revision")) == (revision.report_id, revision.number)]
    folder = f"{revision.report_id.replace('/', '_')}-r{revision.number}"
    key = None
    if "signed_by" in manifest:
        key = archive.store.read_file(f"signing-keys/{manifest['signed_by'].removeprefix('ed25519:')[:16]}.pem")
    sums = "".join(f"{manifest['files'][name]['sha256']}  files/{name}\n" for name in sorted(manifest["files"]))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name in names:
            bundle.writestr(f"{folder}/files/{name}", archive.read(revision, name))
        bundle.writestr(f"{folder}/index.jsonl", b"".join(line + b"\n" for line in lines[:max(mine)]))
        bundle.writestr(f"{folder}/SHA256SUMS", sums)
        if key is not None:
            bundle.writestr(f"{folder}/signing-key.pem", key)
        bundle.writestr(f"{folder}/VERIFY.txt", verify_text(revision, manifest, max(mine), key is not None,
                                                            RECEIPT in names))
    return out.getvalue()


def verify_text(revision: Revision, manifest: dict, last_line: int, signed: bool, sent: bool) -> str:
    """The auditor's instructions; every `$ ` line is a command to run from this folder."""
    steps = [
        ["Every file is the one the manifest lists (same SHA-256):",
         "$ sha256sum -c SHA256SUMS"],
        ["SHA256SUMS says what the manifest says (each hash appears in files/manifest.json):",
         "$ (while read -r sum name; do grep -q \"\\\"sha256\\\": \\\"$sum\\\"\" files/manifest.json "
         "|| { echo \"NOT IN THE MANIFEST: $name\"; exit 1; }; done < SHA256SUMS; "
         "echo \"manifest: lists every file\")"],
        ["The index's chain is whole: each line holds the SHA-256 of the line before it (the first one, 64 zeros):",
         f"$ (prev={GENESIS}; n=0; while IFS= read -r line; do n=$((n+1)); "
         "case \"$line\" in *\"\\\"prev_sha256\\\":\\\"$prev\\\"\"*) ;; *) echo \"BROKEN CHAIN at line $n\"; exit 1;; "
         "esac; prev=$(printf '%s' \"$line\" | sha256sum | cut -d' ' -f1); done < index.jsonl; "
         "echo \"chain: $n lines, line $n hashes to $prev\")"],
        ["The index records this manifest (its SHA-256 is in the line that archived the revision):",
         "$ sum=$(sha256sum files/manifest.json | cut -d' ' -f1); grep -q \"\\\"manifest_sha256\\\":\\\"$sum\\\"\" "
         "index.jsonl && echo \"index: records manifest $sum\""],
    ]
    if sent:
        steps.append(["The index records the send receipt:",
                      "$ sum=$(sha256sum files/receipt.json | cut -d' ' -f1); grep -q "
                      "\"\\\"receipt_sha256\\\":\\\"$sum\\\"\" index.jsonl && echo \"index: records receipt $sum\""])
    steps.append([
        "Nobody rewrote the history since: compare with a report email you kept (a witness). Its header",
        "   X-Mailflow-Archive-Chain says `line=N; sha256=S`. When N is at most the number of lines here, this",
        "   must print S (replace N):",
        "   sed -n 'Np' index.jsonl | tr -d '\\n' | sha256sum",
        "   When N is larger, ask for the bundle of a later revision, or run `mailflow archive verify --witness`",
        f"   on the archive itself. This bundle's index ends at line {last_line}."])
    if signed:
        steps.append([
            "The manifest is signed by the archive's key (Ed25519):",
            "$ openssl pkeyutl -verify -pubin -inkey signing-key.pem -rawin -in files/manifest.json "
            "-sigfile files/manifest.sig",
            "",
            "   and that key is the one you were given outside the archive: this prints its fingerprint, which",
            f"   must be the one you were given ({manifest['signed_by']} here, the text after `ed25519:`):",
            "$ openssl pkey -pubin -in signing-key.pem -outform DER | tail -c 32 | sha256sum"])
    else:
        steps.append(["The archive is not signed (no signing key was configured): nothing to check there."])
    text = [
        f"Evidence bundle: {revision.report_id}, revision {revision.number}",
        f"Window {manifest['window']['start']} to {manifest['window']['end']}; generated {manifest['generated_at']} "
        f"by {manifest['code_version']}; reason: {manifest['reason']}.",
        "",
        "Run each command below (the lines starting with `$ `, without the `$ `) in bash from the folder this",
        "file is in. Each prints what it checked and exits with a non-zero status when the check fails. They",
        "need only coreutils (sha256sum, cut, tail, tr, sed), grep and, for the signature, openssl 3.",
    ]
    for number, (title, *rest) in enumerate(steps, start=1):
        text += ["", f"{number}. {title}", *rest]
    return "\n".join(text) + "\n"
