"""The two images: their Dockerfiles held to pinned inputs, a numeric non-root user, a build context
that has what they copy and commands that exist in the installed package; and the operator image
built for real with buildah (images/build.sh, as `make images` does) and smoke-tested inside."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from chartkit import ROOT, SCENARIOS, Render, one, operator_container

MOLTING = Path(sys.executable).with_name("molting")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# What each image installs, its entrypoint, and the extras it must not carry.
IMAGES = {
    "operator/Dockerfile": ({"operator"}, ["molting"]),
    "workloads/Dockerfile": ({"train", "serve"}, ["/usr/bin/tini", "--", "molting"]),
}
HEAVY = ("torch", "transformers", "peft", "trl", "bitsandbytes", "datasets", "accelerate", "ray")
BUILD = ROOT / "images" / "build.sh"


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    text = (ROOT / dockerfile).read_text()
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def run_molting(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.run([str(MOLTING), *args], capture_output=True, text=True, env=env, timeout=120)


def help_of(verb: str) -> str:
    """`molting VERB --help`."""
    out = run_molting(verb, "--help")
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


@pytest.mark.parametrize("dockerfile", sorted(IMAGES))
def test_image_entrypoint_is_the_molting_console_script(dockerfile: str) -> None:
    _, entrypoint = IMAGES[dockerfile]
    [found] = [json.loads(a) for i, a in instructions(dockerfile) if i == "ENTRYPOINT"]
    assert found == entrypoint
    assert PYPROJECT["project"]["scripts"]["molting"] == "molting_operator.cli:main"


@pytest.mark.parametrize("dockerfile", sorted(IMAGES))
def test_image_installs_its_extras_under_the_constraints(dockerfile: str) -> None:
    extras, _ = IMAGES[dockerfile]
    runs = " ".join(a for i, a in instructions(dockerfile) if i == "RUN")
    [spec] = re.findall(r'"\.\[([a-z,]+)\]"', runs)
    assert set(spec.split(",")) == extras
    assert extras <= set(PYPROJECT["project"]["optional-dependencies"])
    assert "-c constraints.txt" in runs
    # Every package named on a pip command line is pinned exactly.
    for named in re.findall(r'"([A-Za-z0-9_.\-\[\]]+(?:[=<>!~]=?[^"]*)?)"', runs):
        if not named.startswith(".["):
            assert "==" in named, f"{dockerfile}: {named} is not pinned"


def test_operator_extra_carries_no_ml_or_ray_package() -> None:
    names = {re.split(r"[\[=<>!~ ]", d)[0].lower() for d in PYPROJECT["project"]["optional-dependencies"]["operator"]}
    assert not names & set(HEAVY)


@pytest.mark.parametrize("dockerfile", sorted(IMAGES))
def test_image_runs_as_a_numeric_non_root_user_the_chart_also_uses(dockerfile: str, render: Render) -> None:
    [user] = [a for i, a in instructions(dockerfile) if i == "USER"]
    uid, gid = (int(part) for part in user.split(":"))
    assert uid != 0 and gid != 0
    pod = one(render(), "Deployment")["spec"]["template"]["spec"]
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (uid, gid)


@pytest.mark.parametrize("dockerfile", sorted(IMAGES))
def test_image_base_images_are_pinned_to_a_version(dockerfile: str) -> None:
    args = dict(
        a.split("=", 1) for i, a in instructions(dockerfile) if i == "ARG" and "=" in a
    )
    froms = [a.split()[0] for i, a in instructions(dockerfile) if i == "FROM"]
    for base in froms:
        ref = args.get(base.strip("${}"), base)
        if ref in {"build", "uv"}:  # an earlier stage
            continue
        assert re.search(r":[a-z\-]*\d+\.\d+\.\d+", ref), f"{dockerfile}: {ref} has no x.y.z version"
        assert "latest" not in ref


@pytest.mark.parametrize("dockerfile", sorted(IMAGES))
def test_everything_an_image_copies_is_in_the_build_context(dockerfile: str) -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for instruction, args in instructions(dockerfile):
        if instruction != "COPY" or args.startswith("--from"):
            continue
        *sources, _ = args.split()
        for source in sources:
            assert (ROOT / source).exists(), f"{dockerfile}: COPY {source}: no such path"
            assert source.rstrip("/") in allowed, f"{dockerfile}: {source} is excluded by .dockerignore"


def test_operator_pod_passes_arguments_to_the_image_entrypoint(render: Render) -> None:
    container = operator_container(render())
    assert "command" not in container, "the chart must not replace the image's `molting` entrypoint"
    assert container["args"][0] == "operator"


@pytest.mark.parametrize("verb", ["train", "eval"])
def test_job_commands_exist_and_take_a_request_file(verb: str) -> None:
    # The Jobs run `molting train|eval --request /etc/molting/request.yaml`.
    assert "--request" in help_of(verb)


def test_operator_command_accepts_every_flag_the_chart_passes(render: Render) -> None:
    text = help_of("operator")
    flags = {
        arg
        for scenario in SCENARIOS.values()
        for arg in operator_container(render(scenario))["args"]
        if arg.startswith("--")
    }
    assert flags == {"--all-namespaces", "--namespace", "--liveness-port", "--metrics-port", "--leader-election"}
    for flag in sorted(flags):
        # A whole flag: --namespace must not pass on the strength of --namespaces.
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text), f"`molting operator` has no {flag}"


def test_operator_command_runs_without_ml_or_ray_packages() -> None:
    """As in the operator image, where only the `operator` extra is installed."""
    help_of("operator")
    blocker = (
        "import importlib.abc, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {HEAVY!r}:\n"
        "            raise ModuleNotFoundError(f'not in the operator image: {name}')\n"
        "sys.meta_path.insert(0, Block())\n"
        "sys.argv = ['molting', 'operator', '--help']\n"
        "from molting_operator.cli import main\n"
        "main()\n"
    )
    out = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "COLUMNS": "250"})
    assert out.returncode == 0, out.stderr[-2000:]


def test_ray_image_has_the_ray_cli_and_the_serve_app() -> None:
    assert metadata.entry_points(group="console_scripts", name="ray"), "the ray CLI (KubeRay runs `ray start`)"
    probe = "import molting_workloads.serving.app as app, sys; sys.exit(0 if callable(app.build_app) else 1)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    assert out.returncode == 0, "molting_workloads.serving.app:build_app: " + out.stderr[-2000:]


def test_build_script_overrides_only_arguments_the_dockerfiles_declare() -> None:
    """A renamed ARG would leave images/build.sh passing a value nothing reads (buildah only warns)."""
    script = BUILD.read_text()
    branches = {
        name: re.search(rf"^\s*{name}\)(.*?);;", script, re.S | re.M).group(1) for name in ("operator", "workloads")
    }
    for name, branch in branches.items():
        declared = {a.split("=", 1)[0] for i, a in instructions(f"{name}/Dockerfile") if i == "ARG"}
        passed = set(re.findall(r"--build-arg \"?([A-Z_]+)=", branch))
        assert passed and passed <= declared, f"{name}/Dockerfile does not declare {passed - declared}"
    froms = {a.split()[0] for i, a in instructions("workloads/Dockerfile") if i == "FROM"}
    assert froms == {"${UV_IMAGE}", "${CUDA_IMAGE}"}, "every base of the workloads image is an argument"


def test_operator_image_builds_and_passes_its_smoke_test() -> None:
    """`make images-operator`: buildah builds operator/Dockerfile on a bookworm base made with
    mmdebstrap (cached in .images/), then runs inside it `molting --help`, `molting operator --help`,
    `id -u` (10001, as the image's configured user says) and a check that torch is absent. About
    70 s cold, 6 s warm (docs/performance.md)."""
    missing = [tool for tool in ("buildah", "mmdebstrap") if shutil.which(tool) is None]
    if missing or os.geteuid() != 0:
        reason = f"needs root and buildah + mmdebstrap (`make image-tools`); missing: {missing or 'root'}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    out = subprocess.run([str(BUILD), "operator"], capture_output=True, text=True, timeout=1500, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for check in ("user 10001:10001, id -u 10001", "molting --help", "molting operator --help", "no torch", "passed"):
        assert f"[images] smoke operator: {check}" in out.stderr, out.stderr[-3000:]
