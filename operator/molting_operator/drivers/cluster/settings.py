"""The one ``@kopf.on.startup`` handler: how kopf itself behaves for Molting.

handlers.build_registry registers ``configure``; it reads the Context from kopf's memo.
"""

from __future__ import annotations

from typing import Any

import kopf

from molting_operator.builders import names

# kopf keeps its bookkeeping (handler progress, the last handled spec) in annotations under this
# prefix. Not `molting.dev`: kopf ignores every annotation under its own prefix when it diffs,
# and the user's `molting.dev/rollback` must count as a change.
KOPF_PREFIX = "operator.molting.dev"


def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    context = memo.context
    settings.scanning.disabled = True  # namespaces are given explicitly; no CRD scanning
    settings.peering.standalone = True  # one active operator (leader election is ours)
    settings.posting.reporting_component = names.MANAGED_BY
    settings.posting.event_name_prefix = "molting-"
    # Nothing of kopf's goes into status: the status schema is Molting's alone.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{KOPF_PREFIX}/finalizer"
    # Watch only the Jobs this operator made, filtered by the API server.
    settings.watching.label_selectors["batch", "jobs"] = (
        f"app.kubernetes.io/managed-by={names.MANAGED_BY}"
    )
    # Reconnect watches before a load balancer's idle timeout does it for us.
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.networking.request_timeout = 60
    settings.execution.max_workers = context.workers
