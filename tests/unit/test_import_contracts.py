"""The import-linter contracts that name the workloads' modules name all of them."""

import configparser
import pkgutil
from pathlib import Path

import molting_workloads

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ("operator-only-contract", "contract-self-contained")


def test_every_workloads_module_but_the_contract_is_forbidden_to_the_operator() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    modules = {f"molting_workloads.{m.name}" for m in pkgutil.iter_modules(molting_workloads.__path__)}
    expected = modules - {"molting_workloads.contract"}
    for contract in CONTRACTS:
        listed = set(config[f"importlinter:contract:{contract}"]["forbidden_modules"].split())
        assert listed == expected, contract
