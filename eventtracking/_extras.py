"""The error raised when a module needs a library that is an install extra of eventtracking."""


def missing_extra(extra, module, error):
    """Return an ``ImportError`` saying which extra to install for ``module``, chained from ``error``.

    Raise it ``from error`` where the library's import failed::

        try:
            import pymongo
        except ImportError as exc:
            raise missing_extra('mongo', __name__, exc) from exc
    """
    missing = getattr(error, 'name', None) or str(error)
    return ImportError(
        f"{module} needs {missing!r}, which is not installed: "
        f"install the extra with pip install 'eventtracking[{extra}]' ({error})",
        name=getattr(error, 'name', None),
    )
