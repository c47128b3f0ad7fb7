"""The Kopf driver: watches MoltingModels and their Jobs, observes, calls the planner, carries out
its actions against the Kubernetes API and writes the status. The only code that imports kopf
and kubernetes."""
