"""`molting demo --model`: each model's spec is a valid MoltingModel with the seed's gates, and
an unknown model is refused before anything is built."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from molting_operator.api.resource import load_resource
from molting_operator.commands.demo import MODELS, RESOURCES

ROOT = Path(__file__).resolve().parents[2]


def test_every_demo_model_has_a_valid_spec() -> None:
    assert set(RESOURCES) == set(MODELS) == {"tiny", "smollm2"}
    for path in RESOURCES.values():
        resource = load_resource(ROOT / path)
        assert resource.metadata.name == "pip"


def test_the_smollm2_demo_gates_are_the_seeds_targets() -> None:
    spec = yaml.safe_load((ROOT / RESOURCES["smollm2"]).read_text())["spec"]
    gates = spec["evaluation"]["gates"]
    assert gates["answerLength"] == {"min": 200, "max": 400}
    assert gates["minRelevance"] >= 0.3 and gates["noRegression"] is True
    assert spec["baseModel"]["source"].endswith("smollm2-135m-instruct")


def test_an_unknown_model_is_refused(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "molting_operator", "demo", "--model", "gpt9",
         "--workdir", str(tmp_path / "demo")], capture_output=True, text=True, timeout=120,
        cwd=ROOT)
    assert out.returncode == 2
    assert "tiny, smollm2" in out.stderr + out.stdout
    assert not (tmp_path / "demo").exists()
