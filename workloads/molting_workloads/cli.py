"""The workload verbs of `molting` (base-model, clean, train, eval, serve, tiny-model).

Each verb lives in ``molting_workloads.commands.<verb>`` with a ``register(app)`` function and
imports its heavy implementation inside the command body, so `--help` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

from molting_workloads import commands


def register(app: typer.Typer) -> None:
    """Add every workload command module's verbs to ``app``."""
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(app)
