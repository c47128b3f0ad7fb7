"""Unpack kube-apiserver and kube-controller-manager from ../shared/tools/kubernetes into
.tools/bin for the real-API-server tier (`make tools` runs this), checked against SHA256SUMS.

Where ../shared is absent (a laptop), it says so and exits 0: the tier then skips with a reason
naming MOLTING_KUBE_ASSETS. A binary already unpacked with the right digest is left alone.
"""

from __future__ import annotations

import argparse
import hashlib
import lzma
import os
import sys
from pathlib import Path

BINARIES = ("kube-apiserver", "kube-controller-manager")


def digests(sums: Path) -> dict[str, str]:
    out = {}
    for line in sums.read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            out[name.lstrip("*")] = digest
    return out


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, default=Path("../shared/tools/kubernetes"))
    parser.add_argument("--dest", type=Path, default=Path(".tools/bin"))
    args = parser.parse_args()
    if not (args.source / "SHA256SUMS").exists():
        print(f"{args.source} not found: the real-API-server tier will skip "
              "(set MOLTING_KUBE_ASSETS to a folder with the binaries)")
        return 0
    wanted = digests(args.source / "SHA256SUMS")
    args.dest.mkdir(parents=True, exist_ok=True)
    for name in BINARIES:
        target = args.dest / name
        if target.exists() and sha256(target) == wanted[name]:
            continue
        partial = target.with_suffix(".partial")
        with lzma.open(args.source / f"{name}.xz") as packed, partial.open("wb") as out:
            while block := packed.read(1 << 20):
                out.write(block)
        if sha256(partial) != wanted[name]:
            partial.unlink()
            print(f"{name}: digest does not match {args.source / 'SHA256SUMS'}", file=sys.stderr)
            return 1
        os.chmod(partial, 0o755)
        partial.replace(target)
        print(f"unpacked {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
