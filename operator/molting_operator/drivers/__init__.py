"""The two drivers of the planner: `cluster` (Kopf) and `local` (`molting up`)."""
