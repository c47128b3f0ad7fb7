"""One module per workload verb; each defines ``register(app: typer.Typer)``."""
