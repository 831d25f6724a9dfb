#!/usr/bin/env python3
"""Writes flatpak/cargo-sources.json from Cargo.lock, offline.

flatpak-builder builds without network, so every crate the workspace locks is listed as a source:
the .crate archive from static.crates.io with the checksum Cargo.lock already pins, unpacked into
cargo/vendor/NAME-VERSION with the .cargo-checksum.json cargo's vendoring expects, and a cargo
config that points crates.io at that directory. Only registry crates are supported: the workspace
has no git dependencies (the script refuses them rather than guess).

Usage: scripts/flatpak-cargo-sources.py [--check]   (--check: fail if the file is out of date)
"""
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "flatpak" / "cargo-sources.json"
REGISTRY = "registry+https://github.com/rust-lang/crates.io-index"


def sources(lock):
    out = []
    for package in lock["package"]:
        source = package.get("source")
        if source is None:
            continue  # a workspace member
        if source != REGISTRY:
            sys.exit(f"flatpak-cargo-sources: {package['name']} comes from {source}; only crates.io is supported")
        name, version, checksum = package["name"], package["version"], package["checksum"]
        dest = f"cargo/vendor/{name}-{version}"
        out.append({
            "type": "archive",
            "archive-type": "tar-gzip",
            "url": f"https://static.crates.io/crates/{name}/{name}-{version}.crate",
            "sha256": checksum,
            "dest": dest,
        })
        out.append({
            "type": "inline",
            "contents": json.dumps({"package": checksum, "files": {}}),
            "dest": dest,
            "dest-filename": ".cargo-checksum.json",
        })
    out.append({
        "type": "inline",
        "contents": "[source.crates-io]\nreplace-with = \"vendored-sources\"\n\n"
                    "[source.vendored-sources]\ndirectory = \"cargo/vendor\"\n",
        "dest": "cargo",
        "dest-filename": "config.toml",
    })
    return out


def main():
    with open(ROOT / "Cargo.lock", "rb") as f:
        lock = tomllib.load(f)
    text = json.dumps(sources(lock), indent=2) + "\n"
    if "--check" in sys.argv[1:]:
        if not OUT.exists() or OUT.read_text() != text:
            sys.exit("flatpak/cargo-sources.json is out of date: run scripts/flatpak-cargo-sources.py")
        return
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}: {len(lock['package'])} packages")


main()
