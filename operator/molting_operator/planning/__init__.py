"""The pure lifecycle planner: no kopf, kubernetes, ray, httpx, subprocess, clock or files."""
