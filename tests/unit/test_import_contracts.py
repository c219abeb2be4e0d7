"""The dependency rule (app -> supervision -> delegation -> exchange -> persistence | config) is checked by a tool:
`lint-imports` with the contracts in .importlinter, so a new import that breaks it fails `make test` (and CI).
Below the app shell only config/ reads the environment: the domain takes its settings from them."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Packages that take their settings as given (config/ reads the environment: that is its job).
SETTINGS_TAKERS = ("delegation", "exchange", "supervision", "persistence")
ENVIRONMENT = {"environ", "environb", "getenv", "getenvb"}


def test_import_contracts_hold():
    # The venv's own script, run from the checkout so that it finds .importlinter (setup.cfg has no section).
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def _environment_reads(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            names = [node.attr]  # os.environ, os.getenv
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            names = [alias.name for alias in node.names]  # from os import environ
        else:
            continue
        if ENVIRONMENT.intersection(names):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_the_domain_reads_no_environment_variable():
    reads = [hit for package in SETTINGS_TAKERS for path in sorted((ROOT / package).rglob("*.py"))
             for hit in _environment_reads(path)]
    assert reads == [], "settings come from config/settings.py, passed in: " + ", ".join(reads)
