"""Objects that must mend themselves in a child process after ``os.fork()``.

A child starts with one thread, a copy of the one that forked. A lock another
thread held at the fork stays locked in the child for ever, and threads the
parent ran do not exist there. An object that owns a lock or helper threads
calls :func:`after_fork_in_child` with a function that gives it new ones;
every such function runs in the child right after a fork (gunicorn's and
uwsgi's preloading forks workers from a process that imported the app).
"""

import os
import weakref

_MENDERS = weakref.WeakKeyDictionary()  # object -> the function that mends it


def after_fork_in_child(owner, mend):
    """Call ``mend(owner)`` in every child process forked later, while ``owner`` is alive."""
    _MENDERS[owner] = mend


def _mend_all():
    for owner, mend in list(_MENDERS.items()):
        mend(owner)


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_mend_all)
