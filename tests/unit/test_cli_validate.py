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


def _validate_with(tmp_path: Path, section: str, values: dict) -> subprocess.CompletedProcess[str]:
    doc = yaml.safe_load((ROOT / "examples" / "minimal.yaml").read_text())
    target = doc["spec"]
    for key in section.split("."):
        target = target.setdefault(key, {})
    target.update(values)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = run("validate", str(bad))
    out.stderr = " ".join(out.stderr.split())  # the terminal output wraps long lines
    return out


def test_validate_refuses_a_pattern_that_matches_everything(tmp_path: Path) -> None:
    """The serving filter and cleaning refuse "x*" (it matches the empty string): so does
    validation, with the field's path, before anything runs."""
    out = _validate_with(tmp_path, "serving.filter", {"extraPatterns": ["fine", "x*"]})
    assert out.returncode != 0
    assert "spec.serving.filter.extraPatterns" in out.stderr
    assert "extraPatterns[1]" in out.stderr and "matches the empty string" in out.stderr
    out = _validate_with(tmp_path, "cleaning", {"extraPatterns": ["(unclosed"]})
    assert out.returncode != 0
    assert "spec.cleaning.extraPatterns" in out.stderr and "invalid regular expression" in out.stderr


def test_validate_refuses_a_threshold_out_of_range(tmp_path: Path) -> None:
    out = _validate_with(tmp_path, "cleaning", {"metaThreshold": 1.5})
    assert out.returncode != 0 and "spec.cleaning.metaThreshold" in out.stderr
    out = _validate_with(tmp_path, "serving.filter", {"metaThreshold": 0})
    assert out.returncode != 0 and "spec.serving.filter.metaThreshold" in out.stderr
