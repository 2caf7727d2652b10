"""Run the original event-tracking 4.0.2's own test suite against this library, and judge the result.

Drop-in means that code and tests written against ``event-tracking`` run
unchanged here. This script checks that claim with the original's own tests:
it installs their own requirements (``mock``, ``ddt``), downloads the
original's wheel from the package index into a temporary folder, lays its
``tests`` packages over a temporary copy of this library's ``eventtracking``
package, and runs them with pytest in this project's ``.venv``. Nothing of the
original is kept in this repository.

Every test must pass except those in :data:`EXPECTED_FAILURES`, each with its
reason. The MongoDB integration tests of the original talk to a server on
``localhost:27017``: when one answers there they must pass; when none does
they are expected failures (no MongoDB server can be installed from the
package registries this project uses; see ``compat/README.md``).

The script ends with a summary (passed, expected failures with their
reasons, unexpected outcomes) and a one-line result, and exits 1 on any
unexpected failure, or an expected failure that passed (update the list),
2 when the run itself could not be made. CI runs it as a step of its own.

Usage (from the repository root, after ``make test`` has built ``.venv``)::

    make compat                       # or: .venv/bin/python compat/run.py [pytest arguments]
"""

import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORIGINAL = 'event-tracking==4.0.2'
MONGODB = ('localhost', 27017)

AUTHENTICATION = 'eventtracking/backends/tests/test_mongodb.py::TestMongoBackend::test_authentication_settings'
MONGODB_INTEGRATION = (
    'eventtracking/backends/tests/test_mongodb_integration.py::TestMongoIntegration::test_sequential_events',
    'eventtracking/backends/tests/test_mongodb_performance.py::TestBackendPerformance::test_sequential_events',
)

EXPECTED_FAILURES = {
    AUTHENTICATION: 'expects Database.authenticate, which pymongo 4 removed; credentials go to MongoClient '
                    '(SPEC: fix)',
}
"""Original tests that fail here on purpose: test id -> why."""

NO_SERVER = f'needs a MongoDB server on {MONGODB[0]}:{MONGODB[1]}; none answers here'


def expected_failures(mongodb_answers):
    """The expected failures of this run: the MongoDB integration tests too when no server answers."""
    expected = dict(EXPECTED_FAILURES)
    if not mongodb_answers:
        expected.update(dict.fromkeys(MONGODB_INTEGRATION, NO_SERVER))
    return expected


def mongodb_answers():
    """Whether a MongoDB server answers a ping on :data:`MONGODB` within a second."""
    from pymongo import MongoClient  # pylint: disable=import-outside-toplevel
    from pymongo.errors import PyMongoError  # pylint: disable=import-outside-toplevel

    client = MongoClient(*MONGODB, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000)
    try:
        client.admin.command('ping')
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def download_original(folder):
    subprocess.run(
        [sys.executable, '-m', 'pip', 'download', '--quiet', '--no-deps', '--only-binary=:all:',
         '--dest', folder, ORIGINAL],
        check=True,
    )
    (wheel,) = [name for name in os.listdir(folder) if name.endswith('.whl')]
    return os.path.join(folder, wheel)


def overlay_tests(wheel, package_copy):
    """Copy every ``tests`` package of the original's wheel into the copy of this package."""
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            parts = member.split('/')
            if parts[0] != 'eventtracking' or 'tests' not in parts[:-1] or not member.endswith('.py'):
                continue
            target = os.path.join(os.path.dirname(package_copy), *parts)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with archive.open(member) as source, open(target, 'wb') as destination:
                shutil.copyfileobj(source, destination)


def outcomes(junit_xml):
    """Test id (``path::Class::name``) -> 'passed', 'failed' or 'skipped', from pytest's JUnit XML.

    A test whose call passed but whose teardown errored counts as failed.
    """
    results = {}
    for case in ElementTree.parse(junit_xml).getroot().iter('testcase'):
        module_and_class = case.get('classname', '').split('.')
        name = case.get('name')
        # classname is the dotted module path, then the class if any: find where the module ends on disk
        test_id = _test_id(module_and_class, name)
        if case.find('failure') is not None or case.find('error') is not None:
            outcome = 'failed'
        elif case.find('skipped') is not None:
            outcome = 'skipped'
        else:
            outcome = 'passed'
        if results.get(test_id) != 'failed':
            results[test_id] = outcome
    return results


def _test_id(dotted, name):
    for split in range(len(dotted), 0, -1):
        if dotted[split - 1].startswith('test'):
            return '::'.join(['/'.join(dotted[:split]) + '.py', *dotted[split:], name])
    return '::'.join(['.'.join(dotted), name])


def judge(results, expected):
    """The summary lines and whether the run is as expected."""
    passed = sorted(test for test, outcome in results.items() if outcome == 'passed')
    skipped = sorted(test for test, outcome in results.items() if outcome == 'skipped')
    failed = sorted(test for test, outcome in results.items() if outcome == 'failed')
    expected_failed = [test for test in failed if test in expected]
    unexpected = [test for test in failed if test not in expected]
    unexpected_passes = sorted(test for test in expected if results.get(test) == 'passed')
    missing = sorted(test for test in expected if test not in results)
    lines = [f'passed: {len(passed)}' + (f'; skipped: {len(skipped)}' if skipped else '')]
    lines.append(f'expected failures: {len(expected_failed)}')
    lines.extend(f'  {test}\n      why: {expected[test]}' for test in expected_failed)
    lines.append(f'unexpected failures: {len(unexpected)}')
    lines.extend(f'  {test}' for test in unexpected)
    if unexpected_passes:
        lines.append(f'expected to fail but passed (update compat/run.py): {len(unexpected_passes)}')
        lines.extend(f'  {test}' for test in unexpected_passes)
    if missing:
        lines.append(f'expected failures that did not run: {len(missing)}')
        lines.extend(f'  {test}' for test in missing)
    as_expected = bool(results) and not unexpected and not unexpected_passes
    verdict = 'OK' if as_expected else 'FAILED'
    lines.append(f'compat {verdict} on {datetime.date.today().isoformat()} ({ORIGINAL}): {len(passed)} passed, '
                 f'{len(expected_failed)} expected failures, {len(unexpected) + len(unexpected_passes)} unexpected')
    return lines, as_expected


def main(argv):
    work = tempfile.mkdtemp(prefix='eventtracking-compat-')
    try:
        subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', 'mock', 'ddt'], check=True)
        wheel = download_original(work)
        package_copy = os.path.join(work, 'src', 'eventtracking')
        shutil.copytree(os.path.join(ROOT, 'eventtracking'), package_copy,
                        ignore=shutil.ignore_patterns('__pycache__'))
        overlay_tests(wheel, package_copy)
        junit_xml = os.path.join(work, 'results.xml')
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(package_copy), ROOT]),
                   DJANGO_SETTINGS_MODULE='eventtracking.django.tests.settings')
        command = [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-p', 'no:eventtracking',
                   '-c', os.devnull, '--rootdir', os.path.dirname(package_copy), '--junitxml', junit_xml,
                   '-o', 'junit_family=xunit1', '-o', 'python_files=test_*.py', package_copy, *argv]
        subprocess.run(command, cwd=os.path.dirname(package_copy), env=env, check=False)
        if not os.path.exists(junit_xml):
            print('compat: pytest wrote no results', file=sys.stderr)
            return 2
        server = mongodb_answers()
        lines, as_expected = judge(outcomes(junit_xml), expected_failures(server))
        print(f'\n=== the original {ORIGINAL} tests against this library '
              f'(MongoDB on {MONGODB[0]}:{MONGODB[1]}: {"answers" if server else "none"}) ===')
        print('\n'.join(lines))
        return 0 if as_expected else 1
    except subprocess.CalledProcessError as exc:
        print(f'compat: could not prepare the run: {exc}', file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
