"""The Kopf driver's lifecycle tests (tests/integration/kopf/test_lifecycle.py), run unchanged
against the real API server: the fixtures of this folder's conftest stand the same names on the
control plane, with the operator logged in as the chart's ServiceAccount."""

from test_lifecycle import *  # noqa: F403 — the same tests, collected again under this tier
