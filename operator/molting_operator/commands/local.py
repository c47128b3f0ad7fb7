"""The one-machine verbs: `molting up`, `get`, `describe`, `rollback`, `promote`, `retrain`."""

from __future__ import annotations

from pathlib import Path

import typer

STATE = typer.Option(Path(".molting"), "--state-dir", help="Where local status and artifacts live.")


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(get)
    app.command()(describe)
    app.command()(rollback)
    app.command()(promote)
    app.command()(retrain)


def up(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A MoltingModel YAML file."),
    state_dir: Path = STATE,
    interval: float = typer.Option(1.0, min=0.1, help="Seconds between reconcile passes."),
    until_idle: bool = typer.Option(False, help="Exit once nothing is training, evaluating or "
                                    "canarying (for scripts)."),
    timeout: float | None = typer.Option(None, min=1, help="Give up after this many seconds."),
    http_port: int = typer.Option(8000, help="Port of the Serve HTTP endpoint (127.0.0.1)."),
    dashboard_port: int = typer.Option(8265, help="Port of the local Ray dashboard (127.0.0.1)."),
    live: bool = typer.Option(True, help="Show the live view (off: one line per event)."),
) -> None:
    """Run a MoltingModel on this machine: train, gate, canary and serve it locally.

    Edit FILE to change the spec (like `kubectl apply`); run `molting rollback|promote|retrain
    NAME` from another terminal. Ctrl-C stops the processes, and Ray if `up` started it.
    """
    from rich.live import Live

    from molting_operator.cli import console, err_console, fail
    from molting_operator.drivers.local import view
    from molting_operator.drivers.local.loop import LocalDriver
    from molting_operator.drivers.local.serving import LocalServe
    from molting_operator.drivers.local.state import StateDir
    from molting_workloads.contract.errors import MoltingError

    state = StateDir(state_dir)
    serve = LocalServe(http_port=http_port, dashboard_port=dashboard_port)
    lines: list[str] = []

    def on_event(at: str, event) -> None:
        line = f"{at}  {'Warning' if event.warning else 'Normal '}  {event.reason}: {event.message}"
        lines.append(line)
        if not live:
            console.print(line, highlight=False, markup=False)

    driver = LocalDriver(Path(file), state, serve, on_event=on_event)
    try:
        driver.reload()
    except MoltingError as error:
        fail(error)
    name = driver.name
    try:
        if live and console.is_terminal:
            with Live(console=console, refresh_per_second=4, transient=False) as screen:
                driver.run(interval=interval, until_idle=until_idle, timeout=timeout,
                           on_pass=lambda _: screen.update(
                               view.live(state, name, lines, driver.last_error)))
        else:
            driver.run(interval=interval, until_idle=until_idle, timeout=timeout)
            console.print(view.table(state, [name]))
    except KeyboardInterrupt:
        err_console.print("stopping: ending the train/eval processes"
                          + (" and Ray" if serve.started_here else ""))
    except TimeoutError as error:
        err_console.print(f"[red]timeout:[/] {error}")
        raise typer.Exit(3) from None
    finally:
        driver.shutdown()


def get(
    name: str | None = typer.Argument(None, help="One MoltingModel (default: all)."),
    state_dir: Path = STATE,
) -> None:
    """List local MoltingModels like `kubectl get moltingmodels`."""
    from molting_operator.cli import console
    from molting_operator.drivers.local import view
    from molting_operator.drivers.local.state import StateDir

    state = StateDir(state_dir)
    names = [name] if name else state.names()
    _known(state, names)
    console.print(view.table(state, names))


def describe(name: str = typer.Argument(..., help="The MoltingModel."), state_dir: Path = STATE) -> None:
    """Conditions, revisions with their eval reports, history and events of one MoltingModel."""
    from molting_operator.cli import console
    from molting_operator.drivers.local import view
    from molting_operator.drivers.local.state import StateDir

    state = StateDir(state_dir)
    _known(state, [name])
    console.print(view.describe(state, name))


def _control(name: str, state_dir: Path, annotation: str, what: str) -> None:
    from molting_operator.cli import console
    from molting_operator.drivers.local.state import StateDir

    state = StateDir(state_dir)
    _known(state, [name])
    token = state.annotate(name, annotation)
    console.print(f"{name}: {what} requested ({annotation}={token}); `molting up` acts on it")


def rollback(name: str = typer.Argument(..., help="The MoltingModel."), state_dir: Path = STATE) -> None:
    """Send traffic back to the previous revision (or away from the canary)."""
    from molting_operator.api.annotations import ROLLBACK_ANNOTATION

    _control(name, state_dir, ROLLBACK_ANNOTATION, "rollback")


def promote(name: str = typer.Argument(..., help="The MoltingModel."), state_dir: Path = STATE) -> None:
    """Promote the running canary now, skipping its remaining steps."""
    from molting_operator.api.annotations import PROMOTE_ANNOTATION

    _control(name, state_dir, PROMOTE_ANNOTATION, "promote")


def retrain(name: str = typer.Argument(..., help="The MoltingModel."), state_dir: Path = STATE) -> None:
    """Train a new revision from the unchanged spec."""
    from molting_operator.api.annotations import RETRAIN_ANNOTATION

    _control(name, state_dir, RETRAIN_ANNOTATION, "retrain")


def _known(state, names: list[str]) -> None:
    from molting_operator.cli import err_console

    missing = [n for n in names if not (state.model_dir(n) / "status.json").exists()]
    if missing:
        known = ", ".join(state.names()) or "none"
        err_console.print(f"[red]error:[/] no local MoltingModel {missing[0]!r} in "
                          f"{state.root} (known: {known})")
        raise typer.Exit(2)
