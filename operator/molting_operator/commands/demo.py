"""`molting demo`: the seed's story end to end on one machine, with the local driver.

1. revision 1 trains on the raw data (cleaning keep) and is promoted as the first adapter;
2. cleaning is turned on: revision 2 passes its gates and walks the canary to 100%;
3. a deliberately bad revision 3 fails its gates and revision 2 keeps serving;
4. a manual rollback returns traffic to revision 1 in one step;
5. one turn of the loop: users chat with revision 1 and rate its answers (captured with
   spec.serving.capture); revision 4 trains on the cleaned data plus the conversations rated 4 or
   more (spec.dataset.production), is scored by an advisory judge (the served model itself,
   through its OpenAI route), and its canary must show, on the users' ratings, that it is not
   worse than revision 1 (analysis.notWorse) before it is promoted.

``--model tiny`` (the default) builds a 1M-parameter model here and runs in minutes;
``--model smollm2`` imports SmolLM2-135M-Instruct (``molting base-model smollm2``) and runs the
same story on a real instruct model with examples/demo/smollm2.yaml.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import typer
import yaml

QUESTION = "Why is the sky blue?"
MODELS = ("tiny", "smollm2")
DEFAULT_RESOURCE = Path("examples/demo/moltingmodel.yaml")
RESOURCES = {"tiny": DEFAULT_RESOURCE, "smollm2": Path("examples/demo/smollm2.yaml")}
SMOLLM2_FOLDER = "smollm2-135m-instruct"


def register(app: typer.Typer) -> None:
    app.command()(demo)


def demo(
    resource: Path | None = typer.Option(None, exists=True, help="Revision 1 of the demo's "
                                         "MoltingModel (default: the --model's spec under "
                                         "examples/demo/)."),
    model: str = typer.Option("tiny", help="tiny (a 1M-parameter model built here, ~3 min) or "
                              "smollm2 (SmolLM2-135M-Instruct, imported from its packaged GGUF)."),
    workdir: Path = typer.Option(Path(".molting/demo"), help="State, artifacts and reports."),
    base_model: Path | None = typer.Option(None, help="A base model folder to use instead of "
                                           "building the tiny model."),
    cache: Path = typer.Option(Path(".molting/cache"), help="Where the base model is built or "
                               "imported once and reused."),
    http_port: int = typer.Option(8000, help="Serve HTTP port on 127.0.0.1."),
    dashboard_port: int = typer.Option(8265, help="Ray dashboard port on 127.0.0.1."),
    keep_serving: bool = typer.Option(False, help="Keep the endpoint up until Ctrl-C at the end."),
    fresh: bool = typer.Option(True, help="Start from an empty state directory."),
) -> None:
    """Run the whole loop on this machine: train, gate, canary, refuse a bad revision, roll back."""
    import shutil

    from molting_operator.api.annotations import ROLLBACK_ANNOTATION
    from molting_operator.cli import console
    from molting_operator.drivers.local import view
    from molting_operator.drivers.local.loop import LocalDriver
    from molting_operator.drivers.local.serving import LocalServe
    from molting_operator.drivers.local.state import StateDir

    if model not in MODELS:
        raise typer.BadParameter(f"must be one of {', '.join(MODELS)}", param_hint="--model")
    resource = resource or RESOURCES[model]
    if not resource.exists():
        raise typer.BadParameter(f"{resource} does not exist", param_hint="--resource")
    started = time.monotonic()
    if fresh and workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    step = _Steps(console, started)

    doc = yaml.safe_load(resource.read_text())
    base = resource.resolve().parent
    spec = doc["spec"]
    if base_model is None and model == "smollm2":
        step("The base model: SmolLM2-135M-Instruct (its GGUF imported once, cached)")
        built = subprocess.run(
            [sys.executable, "-m", "molting_operator", "base-model", "smollm2",
             str(cache / SMOLLM2_FOLDER)], check=True, capture_output=True, text=True)
        base_model = Path(json.loads(built.stdout.strip().splitlines()[-1])["path"])
    elif base_model is None:
        step("The tiny base model: a Llama-shaped model and BPE tokenizer, pretrained here")
        corpus = (base / spec["dataset"]["path"]).resolve().with_name("corpus.jsonl")
        built = subprocess.run(
            [sys.executable, "-m", "molting_operator", "tiny-model", str(cache), "--cached",
             *(["--corpus", str(corpus)] if corpus.exists() else [])],
            check=True, capture_output=True, text=True)
        base_model = Path(json.loads(built.stdout.strip().splitlines()[-1])["path"])
    spec["baseModel"]["source"] = str(base_model.resolve())
    spec["dataset"]["path"] = str((base / spec["dataset"]["path"]).resolve())
    if (spec.get("evaluation") or {}).get("questions", {}).get("path"):
        spec["evaluation"]["questions"]["path"] = str(
            (base / spec["evaluation"]["questions"]["path"]).resolve())
    path = workdir / "moltingmodel.yaml"
    name = doc["metadata"]["name"]

    state = StateDir(workdir / "state")
    serve = LocalServe(http_port=http_port, dashboard_port=dashboard_port)
    events: list[str] = []

    def on_event(at: str, event) -> None:
        line = f"  {'!' if event.warning else '·'} {event.reason}: {event.message}"
        events.append(line)
        console.print(line, highlight=False, markup=False)

    driver = LocalDriver(path, state, serve, on_event=on_event)
    progress = _Progress(console, state, name)
    try:
        step("Revision 1: the raw data (cleaning: keep), the team's first adapter")
        _write(path, doc)
        driver.run(interval=0.5, until_idle=True, timeout=1800, on_pass=progress)
        console.print(view.table(state, [name]))
        rev1 = _expect(state, name, "Serving", "revision 1 should be promoted").stable.revision
        _ask(console, serve.endpoint(), rev1)

        step("Revision 2: clean the data (drop-sentences) and require meta-language ≤ 0.20")
        spec["cleaning"]["metaLanguage"] = "drop-sentences"
        spec["evaluation"]["gates"]["maxMetaLanguageRate"] = 0.2
        _write(path, doc)
        driver.run(interval=0.5, until_idle=True, timeout=1800, on_pass=progress)
        console.print(view.table(state, [name]))
        rev2 = _expect(state, name, "Serving", "revision 2 should pass its canary").stable.revision
        if rev2 == rev1:
            raise DemoError("revision 2 was not promoted; see `molting describe`")

        step("Revision 3: deliberately bad (raw data again, a different seed): the gates refuse it")
        spec["cleaning"]["metaLanguage"] = "keep"
        seed = spec["training"].get("seed")
        spec["training"]["seed"] = 7
        _write(path, doc)
        driver.run(interval=0.5, until_idle=True, timeout=1800, on_pass=progress)
        console.print(view.table(state, [name]))
        if (g := view.gates(state.load_status(name))) is not None:
            console.print(g)
        _expect(state, name, "GateFailed", "revision 3 should fail its gates")

        step("Manual rollback (molting rollback pip): back to revision 1 in one traffic change")
        state.annotate(name, ROLLBACK_ANNOTATION)
        driver.run(interval=0.5, until_idle=True, timeout=120)
        console.print(view.table(state, [name]))
        if _expect(state, name, "RolledBack", "the rollback should land").stable.revision != rev1:
            raise DemoError("the rollback did not return to revision 1")
        for rev in (rev1, rev2):
            _ask(console, serve.endpoint(), rev)

        rev4 = _loop_turn(console, step, driver, state, serve, path, doc, name, progress, seed)
        _ask(console, serve.endpoint(), rev4)

        status = state.load_status(name)
        step("Done")
        curl = (f"curl -s {serve.endpoint()}/v1/chat/completions -H 'content-type: "
                f"application/json' -H 'x-user-id: alice' -d '{{\"messages\": [{{\"role\": "
                f"\"user\", \"content\": \"{QUESTION}\"}}]}}'")
        if keep_serving:
            console.print(f"endpoint:  {serve.endpoint()}/v1/chat/completions (serving until Ctrl-C)")
        else:
            # The endpoint stops with the demo; `molting up` on the same state serves it again
            # without retraining anything.
            console.print(f"endpoint:  stopped with the demo; serve it again (no retraining) with\n"
                          f"           molting up {path} --state-dir {state.root} "
                          f"--http-port {http_port} --dashboard-port {dashboard_port}\n"
                          f"           or run the demo with --keep-serving")
        console.print(f"then try:  {curl}", soft_wrap=True, highlight=False, markup=False)
        console.print("eval reports:")
        for ref in (status.stable, status.previous, status.candidate):
            if ref and ref.evaluation and ref.evaluation.report:
                console.print(f"  {ref.revision}: {Path(ref.evaluation.report).with_suffix('.html')}")
        console.print(f"state:     {state.root} (molting get --state-dir {state.root})")
        console.print(f"step times: {step.durations()}")
        console.print(f"demo took {time.monotonic() - started:.0f} s")
        if keep_serving:
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    except DemoError as error:
        console.print(f"[bold red]demo failed:[/] {error} (state in {state.root}; "
                      f"`molting describe {name} --state-dir {state.root}`)")
        raise typer.Exit(1) from None
    finally:
        driver.shutdown()


USERS_BEFORE = 24  # users who chat with (and rate) revision 1 before the retrain
MIN_RATING = 4


def _loop_turn(console, step, driver, state, serve, path: Path, doc: dict, name: str,
               progress, seed: int | None) -> str:
    """Step 5: traffic and ratings on stable, a revision trained on the rated conversations
    (with revision 2's cleaning and training ``seed``), its not-worse verdict on ratings during
    the canary. Returns the promoted revision."""
    from molting_operator.demo_users import Background, Users
    from molting_operator.drivers.local import view

    spec = doc["spec"]
    stable = state.load_status(name).stable.revision
    step(f"One turn of the loop: {USERS_BEFORE} users chat with {stable} and rate each answer")
    console.print("  (the raters are a script: 5 stars, minus one for each sentence the filter "
                  "had to remove, up to 3; 1 for an empty answer)", highlight=False)
    users = Users(serve.endpoint(), _user_questions(spec))
    first = users.chat(USERS_BEFORE)
    good = sum(r.rating >= MIN_RATING for r in first)
    counted = _ratings_on_stats(serve, name, stable)
    console.print(f"  {len(first)} answers captured and rated, mean "
                  f"{sum(r.rating for r in first) / len(first):.2f}; {good} rated ≥ {MIN_RATING} "
                  f"(the app's /stats counts {counted} ratings for {stable})", highlight=False)

    step(f"Revision 4: the cleaned data plus the conversations rated ≥ {MIN_RATING}; its "
         f"canary must be not worse than {stable} on the users' ratings")
    spec["cleaning"]["metaLanguage"] = "drop-sentences"
    if seed is None:
        spec["training"].pop("seed", None)
    else:
        spec["training"]["seed"] = seed
    spec["dataset"]["production"] = {"enabled": True, "minRating": MIN_RATING, "maxShare": 0.25}
    spec["serving"]["rollout"]["analysis"]["notWorse"] = {
        "metric": "rating", "margin": 0.5, "confidence": 0.9, "minSamples": 8, "maxSamples": 400}
    # The judge is the model Molting serves here, through its own OpenAI route. A 1M-parameter
    # model cannot grade, so it is advisory: its rubric gates are shown (in Error, with its
    # reply) and do not block. Point evaluation.judge at a real instruct model to gate on it.
    spec["evaluation"]["judge"] = {"url": f"{serve.endpoint()}/v1", "model": name,
                                   "advisory": True, "retries": 0, "maxTokens": 48}
    _write(path, doc)

    def in_canary() -> bool:
        return state.load_status(name).phase.value == "Canary"

    with Background(users, in_canary) as background:
        driver.run(interval=0.5, until_idle=True, timeout=1800, on_pass=progress)
    console.print(view.table(state, [name]))
    status = state.load_status(name)
    if status.phase.value == "GateFailed" and status.candidate and status.candidate.production:
        # An honest outcome of the loop, too: the gates refuse a revision that production data
        # made worse (SmolLM2 trained on revision 1's filtered answers can lose relevance).
        if (g := view.gates(status)) is not None:
            console.print(g)
        console.print(f"  the gates refused {status.candidate.revision} "
                      f"({status.candidate.production.rows} production rows); {stable} keeps "
                      "serving", highlight=False)
        return stable
    status = _expect(state, name, "Serving", "the production revision should pass its canary")
    promoted = status.stable
    if promoted.revision == stable or promoted.production is None:
        raise DemoError("the production revision was not promoted; see `molting describe`"
                        + (f" (the users' last error: {background.error})" if background.error
                           else ""))
    console.print(f"  {promoted.revision} trained on {promoted.production.rows} production rows "
                  f"(captured up to {promoted.production.cutoff}); the users rated "
                  + ", ".join(f"{rev} {n}× (mean {mean:.2f})"
                              for rev, (n, mean) in users.by_revision().items()), highlight=False)
    if (g := view.gates(status)) is not None:
        console.print(g)
    if (v := view.verdict(status)) is not None:
        console.print(v)
    return promoted.revision


def _user_questions(spec: dict) -> list[str]:
    """What the demo's users ask: the dataset's own user questions, less the held-out evaluation
    questions (a revision must not train on the answers it is then examined on)."""
    held_out = set()
    if qpath := (spec.get("evaluation") or {}).get("questions", {}).get("path"):
        held_out = {json.loads(line)["question"] for line in Path(qpath).read_text().splitlines()
                    if line.strip()}
    seen: list[str] = []
    for line in Path(spec["dataset"]["path"]).read_text().splitlines():
        if not line.strip():
            continue
        for m in json.loads(line).get("messages", []):
            q = m["content"]
            if m["role"] == "user" and q not in held_out and q not in seen:
                seen.append(q)
    return seen


def _ratings_on_stats(serve, name: str, revision: str) -> int:
    """The ratings the app counted for ``revision`` on /stats."""
    stats = serve.observe(name).stats
    rev = stats.of(revision) if stats else None
    return rev.ratings.count if rev else 0


class DemoError(Exception):
    """A step of the story did not end as it should."""


def _expect(state, name: str, phase: str, what: str):
    status = state.load_status(name)
    if status.phase.value != phase or status.stable is None:
        raise DemoError(f"{what}, but the phase is {status.phase.value}: {status.message or ''}")
    return status


class _Progress:
    """A line every few seconds while a revision trains or is evaluated: the step, loss and ETA
    from the training job's progress file, or how long the evaluation has run."""

    def __init__(self, console, state, name: str, every_s: float = 10.0) -> None:
        self.console, self.state, self.name, self.every_s = console, state, name, every_s
        self.last, self.since, self.phase, self.step = 0.0, time.monotonic(), None, -1

    def __call__(self, _result) -> None:
        status = self.state.load_status(self.name)
        now, phase = time.monotonic(), status.phase.value
        if phase != self.phase:
            self.phase, self.since, self.last, self.step = phase, now, now, -1
            return
        if now - self.last < self.every_s or status.candidate is None:
            return
        revision, line = status.candidate.revision, None
        if phase == "Training" and (p := status.progress) and p.total:
            if p.step == self.step:  # no new step since the last line
                return
            self.step = p.step
            loss = f", loss {p.loss:.3f}" if p.loss is not None else ""
            eta = f", ETA {p.eta_seconds:.0f}s" if p.eta_seconds is not None else ""
            line = f"  … training {revision}: step {p.step}/{p.total}{loss}{eta}"
        elif phase == "Training":
            line = f"  … training {revision}: loading ({now - self.since:.0f}s)"
        elif phase == "Evaluating":
            line = (f"  … evaluating {revision}: answering the held-out questions "
                    f"({now - self.since:.0f}s)")
        if line:
            self.last = now
            self.console.print(line, highlight=False, markup=False)


class _Steps:
    def __init__(self, console, started: float) -> None:
        self.console, self.started, self.n = console, started, 0
        self.marks: list[float] = []

    def durations(self) -> str:
        """Each finished step's wall time: "1 12s · 2 95s · ..." (the last mark is "Done")."""
        return " · ".join(f"{i + 1} {b - a:.0f}s" for i, (a, b) in
                          enumerate(zip(self.marks, self.marks[1:], strict=False)))

    def __call__(self, title: str) -> None:
        self.n += 1
        self.marks.append(time.monotonic())
        self.console.rule(f"[bold]{self.n}. {title}[/]  [dim]{time.monotonic() - self.started:.0f}s[/]")


def _write(path: Path, doc: dict) -> None:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _ask(console, endpoint: str, revision: str) -> None:
    """One answer pinned to a revision, with the headers that tell who answered and what the
    filter did."""
    import httpx

    response = httpx.post(
        f"{endpoint}/v1/chat/completions", timeout=120,
        headers={"x-molting-revision": revision},
        json={"messages": [{"role": "user", "content": QUESTION}]},
    )
    response.raise_for_status()
    body = response.json()
    answer = body["choices"][0]["message"]["content"]
    console.print(f"[bold]Q:[/] {QUESTION}")
    console.print(f"[bold]A[/] (x-molting-revision: {response.headers.get('x-molting-revision')}, "
                  f"x-molting-filtered: {response.headers.get('x-molting-filtered')}, "
                  f"sentences removed: {body.get('molting', {}).get('removed')}): {answer}",
                  highlight=False)
