"""The workload verbs of `molting` (clean, train, eval, serve, tiny-model).

Registered on the main app by ``molting_operator.cli``; every command imports its heavy
implementation inside its body.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the workload commands to ``app``."""
    del app  # the verbs arrive with the workloads issue
