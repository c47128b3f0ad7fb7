"""One module per operator-side verb (operator, up, get, describe, rollback...); each defines
``register(app: typer.Typer)``."""
