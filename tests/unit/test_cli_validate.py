"""`molting validate` and `molting --help`, run as a user would (the installed console script)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MOLTING = shutil.which("molting") or str(ROOT / ".venv" / "bin" / "molting")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MOLTING, *args], capture_output=True, text=True, timeout=120)


def test_help_lists_the_commands() -> None:
    out = run("--help")
    assert out.returncode == 0
    for verb in ("validate", "crd"):
        assert verb in out.stdout


def test_validate_prints_a_summary_of_a_valid_resource() -> None:
    out = run("validate", str(ROOT / "examples" / "moltingmodel.yaml"))
    assert out.returncode == 0, out.stderr
    assert "valid MoltingModel default/friendly-assistant" in out.stdout
    assert "revision" in out.stdout and "10%/10m → 50%/30m → 100%/0s" in out.stdout


def test_validate_names_field_and_line_and_exits_non_zero(tmp_path: Path) -> None:
    doc = yaml.safe_load((ROOT / "examples" / "minimal.yaml").read_text())
    doc["spec"]["training"] = {"epochs": -1}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = run("validate", str(bad))
    assert out.returncode != 0
    assert "spec.training.epochs" in out.stderr and "line" in out.stderr


def test_validate_refuses_broken_yaml_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("apiVersion: molting.dev/v1alpha1\nkind: [unclosed\n")
    out = run("validate", str(bad))
    assert out.returncode != 0 and "line" in out.stderr
