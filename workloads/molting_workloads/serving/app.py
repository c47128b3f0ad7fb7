"""The Serve application builder named in the Serve config: ``import_path`` is
``molting_workloads.serving.app:build_app`` and ``args`` is the contract's ``AppArgs``.

Serve validates ``args`` against the annotation; the deployments' options and ``user_config``
come from the config's ``deployments`` section (``contract.serve_config.build_app_entry``).
"""

from __future__ import annotations

from ray.serve import Application

from molting_workloads.contract.serve_config import AppArgs
from molting_workloads.serving.generator import Generator
from molting_workloads.serving.ingress import Ingress


def build_app(args: AppArgs) -> Application:
    """Ingress in front of one Generator, both built from the same args."""
    spec = args if isinstance(args, AppArgs) else AppArgs.model_validate(args)
    wire = spec.to_wire()
    return Ingress.bind(Generator.bind(wire), wire)
