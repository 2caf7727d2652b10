"""The error raised when a module needs a library that is an install extra of eventtracking."""


def missing_extra(extra, module, error):
    """Return an ``ImportError`` saying which extra to install for ``module``, chained from ``error``.

    Every extra's message has the same shape, for example::

        eventtracking.backends.mongodb needs 'pymongo', which is not installed: pip install 'eventtracking[mongo]'
        (No module named 'pymongo')

    Raise it ``from error`` where the library's import failed::

        try:
            import pymongo
        except ImportError as exc:
            raise missing_extra('mongo', __name__, exc) from exc
    """
    missing = (getattr(error, 'name', None) or str(error)).partition('.')[0]
    return ImportError(
        f"{module} needs {missing!r}, which is not installed: pip install 'eventtracking[{extra}]' ({error})",
        name=getattr(error, 'name', None),
    )
