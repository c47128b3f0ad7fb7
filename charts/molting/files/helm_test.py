"""`helm test`: the MoltingModel API is served and the operator is Ready.

Runs in the test hook pod (templates/tests/), with its own ServiceAccount and no RBAC binding:
API discovery is open to every authenticated account. Readiness is checked through the metrics
Service, which routes only to Ready pods, so an answer there means a Ready operator.
"""

import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request

API = os.environ.get("MOLTING_TEST_API", "https://kubernetes.default.svc")
SA_DIR = os.environ.get("MOLTING_TEST_SA_DIR", "/var/run/secrets/kubernetes.io/serviceaccount")
METRICS_URL = os.environ["MOLTING_TEST_METRICS_URL"]
DEADLINE_S = float(os.environ.get("MOLTING_TEST_TIMEOUT", "120"))
GROUP_VERSION = "molting.dev/v1alpha1"


def fetch(url, headers=None):
    context = None
    if url.startswith("https://"):
        context = ssl.create_default_context(cafile=os.path.join(SA_DIR, "ca.crt"))
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        return response.status, response.read().decode()


def check_crd_served():
    with open(os.path.join(SA_DIR, "token")) as token_file:
        token = token_file.read().strip()
    status, body = fetch(f"{API}/apis/{GROUP_VERSION}", {"Authorization": f"Bearer {token}"})
    names = {r.get("name") for r in json.loads(body).get("resources", [])}
    missing = {"moltingmodels", "moltingmodels/status"} - names
    if missing:
        return f"{GROUP_VERSION} is served but lacks {sorted(missing)} (found {sorted(names)})"
    return None


def check_operator_ready():
    status, body = fetch(METRICS_URL)
    if status != 200 or "# TYPE" not in body:
        return f"{METRICS_URL} answered {status} without Prometheus metrics"
    return None


def main():
    deadline = time.monotonic() + DEADLINE_S
    for name, check in (("CRD served", check_crd_served), ("operator ready", check_operator_ready)):
        while True:
            try:
                problem = check()
            except (OSError, ValueError, urllib.error.URLError) as error:
                problem = f"{type(error).__name__}: {error}"
            if problem is None:
                print(f"ok: {name}")
                break
            if time.monotonic() >= deadline:
                print(f"FAILED: {name}: {problem}", file=sys.stderr)
                return 1
            time.sleep(2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
