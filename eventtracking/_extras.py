"""How to install an extra of eventtracking, and the error raised when a module needs one that is missing.

eventtracking is not on PyPI (see "Installing" in the README): an extra is
installed by naming it after the path of a checkout or of a built wheel,
``pip install './eventtracking[mongo]'``. Every message of the package that
says how to install an extra uses :func:`install_command`.
"""


def install_command(extra):
    """The command that installs ``extra``, as every message of the package gives it::

        pip install '<eventtracking checkout or wheel>[mongo]' (eventtracking is not on PyPI)
    """
    return f"pip install '<eventtracking checkout or wheel>[{extra}]' (eventtracking is not on PyPI)"


def missing_extra(extra, module, error):
    """Return an ``ImportError`` saying which extra to install for ``module``, chained from ``error``.

    Every extra's message has the same shape, for example::

        eventtracking.backends.mongodb needs 'pymongo', which is not installed: pip install '<eventtracking
        checkout or wheel>[mongo]' (eventtracking is not on PyPI) (No module named 'pymongo')

    Raise it ``from error`` where the library's import failed::

        try:
            import pymongo
        except ImportError as exc:
            raise missing_extra('mongo', __name__, exc) from exc
    """
    missing = (getattr(error, 'name', None) or str(error)).partition('.')[0]
    return ImportError(
        f"{module} needs {missing!r}, which is not installed: {install_command(extra)} ({error})",
        name=getattr(error, 'name', None),
    )
