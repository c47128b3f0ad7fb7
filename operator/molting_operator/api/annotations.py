"""The manual-control annotations on a MoltingModel (`kubectl annotate`, or the local CLI).

Each value is a token: a new value is acted on once (status.handledTokens remembers it).
"""

ROLLBACK_ANNOTATION = "molting.dev/rollback"
PROMOTE_ANNOTATION = "molting.dev/promote"
RETRAIN_ANNOTATION = "molting.dev/retrain"  # a new value trains the spec again (a new revision)
