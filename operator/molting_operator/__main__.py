"""`python -m molting_operator` runs the `molting` CLI (the local driver starts Jobs this way)."""

from molting_operator.cli import main

main()
