"""A progress bar on standard error when it and standard output are a terminal, through tqdm
(``pip install './eventtracking[cli]'``).

Without tqdm, or when standard error or standard output is piped or
redirected, :func:`progress_bar` returns a bar that shows nothing, so the
output of a script stays clean.
"""

import sys


class NoProgress:
    """A progress bar that shows nothing."""

    def update_to(self, position):
        """Record that ``position`` bytes have been read (ignored)."""

    def close(self):
        """Nothing to close."""


class _BytesBar:
    """A tqdm bar counting the bytes read of a file of known size."""

    def __init__(self, tqdm, total, description, stream):
        self._bar = tqdm(total=total, desc=description, unit='B', unit_scale=True, unit_divisor=1024,
                         file=stream, leave=False, dynamic_ncols=True)
        self._position = 0

    def update_to(self, position):
        """Move the bar to ``position`` bytes."""
        if position > self._position:
            self._bar.update(position - self._position)
            self._position = position

    def close(self):
        """Remove the bar from the terminal."""
        self._bar.close()


def progress_bar(total, description, stream=None, output=None):
    """A bar on ``stream`` (standard error) for reading ``total`` bytes; :class:`NoProgress` unless tqdm is installed
    and both ``stream`` and ``output`` (standard output) are terminals."""
    stream = sys.stderr if stream is None else stream
    output = sys.stdout if output is None else output
    if total is None or not _is_terminal(stream) or not _is_terminal(output):
        return NoProgress()
    try:
        from tqdm import tqdm  # pylint: disable=import-outside-toplevel
    except ImportError:
        return NoProgress()
    return _BytesBar(tqdm, total, description, stream)


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
