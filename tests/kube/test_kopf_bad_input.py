"""The Kopf driver's bad-input tests (tests/integration/kopf/test_bad_input.py), run unchanged
against the real API server (see test_kopf_lifecycle.py)."""

from test_bad_input import *  # noqa: F403 — the same tests, collected again under this tier

# On the real server the CRD's CEL rule refuses this spec at admission, so the operator never
# sees it: test_crd.py checks that refusal instead.
del test_an_invalid_spec_is_a_condition_and_an_event_not_a_crash  # noqa: F821
