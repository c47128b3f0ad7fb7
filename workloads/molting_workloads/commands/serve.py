"""`molting serve CONFIG.yaml`: run one model's serving app on this machine (a local Ray on
127.0.0.1) until Ctrl-C. Ray and the app are imported inside the command.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from molting_workloads.contract.errors import MoltingError

console = Console()
err_console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)


def serve_command(
    config: Path = typer.Argument(..., exists=True, dir_okay=False, help="A ServeAppConfig YAML file."),
    port: int = typer.Option(8000, min=1, max=65535, help="HTTP port of the Serve proxy (127.0.0.1)."),
    num_cpus: int = typer.Option(2, min=1, help="CPUs the local Ray may use."),
) -> None:
    """Serve the model of CONFIG locally: OpenAI-compatible chat completions with the filter.

    Prints the endpoint, then runs until Ctrl-C and stops Ray on the way out.
    """
    from molting_workloads.contract.serve_config import load_config
    from molting_workloads.serving import local

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        cfg = _absolute_paths(load_config(str(config)))
        local.start_local_ray(num_cpus=num_cpus)
        url = local.deploy(cfg, http_port=port)
        console.print(f"[bold green]serving[/] {cfg.name} at {url}/v1/chat/completions")
        console.print(f"  revisions  {cfg.weights() or 'none yet'}")
        console.print(f"  stats      {url}/stats    metrics {url}/metrics")
        console.print("  Ctrl-C to stop")
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    except MoltingError as error:
        err_console.print(f"[bold red]error:[/] {escape(str(error))}")
        raise typer.Exit(2) from error
    finally:
        local.shutdown()
    console.print("stopped")


def _absolute_paths(cfg):
    """Relative model and adapter paths, as a user types them, mean this folder; the Ray workers
    run elsewhere, so they get absolute ones."""
    def absolute(path: str) -> str:
        return str(Path(path).resolve()) if Path(path).exists() else path

    revisions = [r.model_copy(update={"adapter": absolute(r.adapter)}) for r in cfg.revisions]
    return cfg.model_copy(update={"base_model": absolute(cfg.base_model), "revisions": revisions})

