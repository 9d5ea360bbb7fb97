"""The apps import only downward (issue 15): pages → integrations → ratings → kpis → orgs →
kpi_platform, checked by import-linter's layers contract in pyproject.toml, indirect imports
included. The project shell (kpi_platform) may import orgs for the tenancy wiring; tests stand
outside the layers (the isolation matrix reaches every app)."""

from pathlib import Path

from importlinter import configuration
from importlinter.application.use_cases import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def test_apps_import_only_downward(capsys):
    configuration.configure()  # what the lint-imports command does first
    kept = lint_imports(config_filename=str(ROOT / "pyproject.toml"), cache_dir=None, no_logo=True)
    assert kept, capsys.readouterr().out
