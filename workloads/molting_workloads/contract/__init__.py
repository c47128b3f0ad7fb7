"""The only door between the operator and the workloads: policies, requests, summaries, serve config.

Stdlib, pydantic, yaml and httpx only. The operator imports this package and nothing else from
``molting_workloads``.
"""
