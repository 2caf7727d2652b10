"""The layers of the package (docs/architecture.rst) hold: the import-linter contract in .importlinter is kept."""

import subprocess
import sys
from pathlib import Path

from importlinter import configuration
from importlinter.application.use_cases import lint_imports

ROOT = Path(__file__).parents[1]
CONTRACT = ROOT / '.importlinter'


def test_no_module_imports_from_a_layer_above_its_own(capsys):
    configuration.configure()  # what the lint-imports command does first (not its logging set-up: that would
    # disable every logger the other tests read)
    kept = lint_imports(config_filename=str(CONTRACT), cache_dir=None, no_logo=True)

    report = capsys.readouterr().out
    assert kept, report
    assert 'Contracts: 1 kept, 0 broken.' in report


def test_the_contract_catches_an_import_from_a_layer_above(tmp_path):
    package = tmp_path / 'eventtracking'
    for module in {path.relative_to(ROOT) for path in (ROOT / 'eventtracking').rglob('*.py')}:
        copy = tmp_path / module
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text((ROOT / module).read_text(encoding='utf-8'), encoding='utf-8')
    with open(package / 'events.py', 'a', encoding='utf-8') as events:
        events.write('\nfrom eventtracking.django import checks  # a core module reaching up to Django\n')
    result = subprocess.run(
        [sys.executable, '-c', 'import sys; from importlinter.cli import lint_imports; '
         'sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True, no_logo=True))', str(CONTRACT)],
        cwd=tmp_path, capture_output=True, text=True, check=False, timeout=300,
    )

    print(result.stdout)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'eventtracking.events is not allowed to import eventtracking.django' in ' '.join(result.stdout.split())


def test_python_m_eventtracking_catalog_still_runs_the_catalog_command(tmp_path):
    (tmp_path / 'my_types.py').write_text(
        'from eventtracking.registry import EventType, Field, register\n'
        "register(EventType('edx.layers.checked', 'A layer was checked.', fields={'layer': Field(str, 'Its name.')}))\n",
        encoding='utf-8')

    result = subprocess.run([sys.executable, '-m', 'eventtracking.catalog', '--module', 'my_types'], cwd=tmp_path,
                            capture_output=True, text=True, check=False, timeout=120)

    assert result.returncode == 0, result.stderr
    assert 'edx.layers.checked' in result.stdout and 'A layer was checked.' in result.stdout
