"""Run the original event-tracking 4.0.2's own test suite against this library.

Drop-in means that code and tests written against ``event-tracking`` run
unchanged here. This script checks that claim with the original's own tests:
it installs their own requirements (``mock``, ``ddt``), downloads the original's wheel from the package index into a temporary
folder, lays its ``tests`` packages over a temporary copy of this library's
``eventtracking`` package, and runs them with pytest in this project's
``.venv``. Nothing of the original is kept in this repository.

Usage (from the repository root, after ``make test`` has built ``.venv``)::

    make compat

Differences that are deliberate are listed in ``compat/README.md``.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORIGINAL = 'event-tracking==4.0.2'


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


def main(argv):
    work = tempfile.mkdtemp(prefix='eventtracking-compat-')
    try:
        subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', 'mock', 'ddt'], check=True)
        wheel = download_original(work)
        package_copy = os.path.join(work, 'src', 'eventtracking')
        shutil.copytree(os.path.join(ROOT, 'eventtracking'), package_copy,
                        ignore=shutil.ignore_patterns('__pycache__'))
        overlay_tests(wheel, package_copy)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(package_copy), ROOT]),
                   DJANGO_SETTINGS_MODULE='eventtracking.django.tests.settings')
        command = [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-p', 'no:eventtracking',
                   '-c', os.devnull, '--rootdir', os.path.dirname(package_copy),
                   '-o', 'python_files=test_*.py', package_copy, *argv]
        return subprocess.run(command, cwd=os.path.dirname(package_copy), env=env, check=False).returncode
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
