"""`molting operator`: run the Kopf driver against the current kubeconfig or in-cluster config.

Settings come from the environment the Helm chart sets (MOLTING_TRAINING_IMAGE,
MOLTING_GPU_RESOURCE, MOLTING_ARTIFACTS_PVC, MOLTING_DEFAULT_NODE_SELECTOR,
MOLTING_DEFAULT_TOLERATIONS, MOLTING_KUBERAY) and from the flags below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from molting_operator.drivers.cluster.config import Context


def register(app: typer.Typer) -> None:
    app.command("operator")(operator)


def operator(
    namespace: list[str] = typer.Option(
        None, "--namespace", "-n", help="Serve MoltingModels in this namespace (repeatable)."
    ),
    all_namespaces: bool = typer.Option(
        False, "--all-namespaces", "-A", help="Serve MoltingModels in every namespace."
    ),
    liveness_port: int = typer.Option(8080, help="Port of the /healthz endpoint."),
    metrics_port: int = typer.Option(9090, help="Port of the Prometheus /metrics endpoint."),
    leader_election: bool = typer.Option(
        False, help="Run only while holding the Lease (POD_NAMESPACE/molting-operator)."
    ),
    interval: float = typer.Option(
        None, help="Seconds between reconciles of one model (default: env MOLTING_RECONCILE_INTERVAL, else 5)."
    ),
    workers: int = typer.Option(16, min=1, help="Handler threads (and API connections)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log more."),
    debug: bool = typer.Option(False, help="Log everything, kopf's internals included."),
) -> None:
    """Run the Molting operator: train, evaluate, gate, canary and roll back MoltingModels."""
    import asyncio
    import dataclasses

    import kopf
    import kubernetes

    from molting_operator.cli import err_console
    from molting_operator.drivers.cluster import config as config_mod
    from molting_operator.drivers.cluster import kube, metrics, serving

    if bool(namespace) == all_namespaces:
        err_console.print("[bold red]error:[/] give --namespace NS (one or more) or --all-namespaces")
        raise typer.Exit(2)
    try:
        settings = config_mod.OperatorConfig.from_environment()
        if interval is not None:
            settings = dataclasses.replace(settings, interval=interval)
        client = kube.Kube(kube.configuration_from_environment(), pool_size=workers)
    except (config_mod.ConfigError, ValueError) as error:
        err_console.print(f"[bold red]error:[/] {error}")
        raise typer.Exit(2) from None
    except kubernetes.config.ConfigException as error:
        err_console.print(f"[bold red]error:[/] no in-cluster config and no usable kubeconfig: {error}")
        raise typer.Exit(2) from None
    kopf.configure(verbose=verbose, debug=debug)
    metrics.serve(metrics_port)
    context = config_mod.Context(kube=client, config=settings, serve=serving.HttpServe(),
                                 workers=workers)
    asyncio.run(_run(context, namespace or [], all_namespaces, liveness_port, leader_election))


async def _run(
    context: Context, namespaces: list[str], clusterwide: bool, liveness_port: int, lead: bool
) -> None:
    import asyncio
    import os
    from pathlib import Path

    from molting_operator.drivers.cluster import leadership, running

    liveness = f"http://0.0.0.0:{liveness_port}/healthz"
    if not lead:
        await running.run(context, namespaces=namespaces, clusterwide=clusterwide,
                          liveness_endpoint=liveness)
        return
    token_ns = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    lease_ns = os.environ.get("POD_NAMESPACE") or (
        token_ns.read_text().strip() if token_ns.exists() else "default")
    elector = leadership.Elector(context.kube, lease_ns, running.own_identity())
    await leadership.serve_health_while(asyncio.ensure_future(elector.acquire()), liveness_port)
    lost = asyncio.Event()
    keeper = asyncio.create_task(elector.keep(lost))
    try:
        await running.run(context, namespaces=namespaces, clusterwide=clusterwide,
                          liveness_endpoint=liveness, stop_flag=lost)
    finally:
        keeper.cancel()
        await asyncio.to_thread(elector.release)
