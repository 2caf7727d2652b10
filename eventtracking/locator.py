"""Context locators: where a tracker keeps its stack of entered contexts.

Every locator has a ``get()`` method returning an ordered mapping of context
name to context dict; the tracker adds to it in ``enter_context`` and removes
from it in ``exit_context``.

Which one to use:

* :class:`DefaultContextLocator`: one stack for the whole process. For scripts
  and single-threaded programs.
* :class:`ThreadLocalContextLocator`: one stack per thread (or per greenlet,
  when gevent or eventlet patch ``threading.local``). For WSGI servers and
  thread pools.
* :class:`ContextVarLocator`: one stack per :mod:`contextvars` context, so per
  asyncio task as well as per thread. A task inherits a copy of the stack it
  was started under; what it enters or exits does not leak back. For asyncio,
  ASGI servers, and any code that mixes threads and tasks (Django under ASGI
  runs sync views on one shared thread, where thread-locals leak between
  concurrent requests).
"""

import contextvars
import threading
from collections import OrderedDict


class DefaultContextLocator:
    """One context stack for the whole process, shared by every thread."""

    def __init__(self):
        self.context = OrderedDict()

    def get(self):
        """Return the (only) context stack."""
        return self.context


class ThreadLocalContextLocator:
    """One context stack per thread.

    ``threading.local()`` is created at first use, not at import or
    construction, so that gevent-style monkey patching applied later still
    takes effect.
    """

    def __init__(self):
        self.thread_local_data = None

    def get(self):
        """Return the calling thread's context stack."""
        local = self.thread_local_data
        if local is None:
            local = self.thread_local_data = threading.local()
        try:
            return local.context
        except AttributeError:
            local.context = OrderedDict()
            return local.context


class ContextVarLocator:
    """One context stack per :mod:`contextvars` context (per asyncio task and per thread).

    ``get()`` returns a live view: reading it reads the current context's
    stack; changing it (entering or exiting a context) replaces the stack in
    the current context only, copy-on-write, so a task started inside a
    context keeps what it inherited and its own changes stay its own.
    """

    def __init__(self):
        self._stack = contextvars.ContextVar(f'eventtracking_contexts_{id(self):x}', default=_EMPTY)
        self._view = _ContextVarStack(self._stack)

    def get(self):
        """Return a view of the current context's stack."""
        return self._view


_EMPTY = OrderedDict()


class _ContextVarStack:
    """An ordered mapping backed by a ContextVar; every change sets a new OrderedDict."""

    __slots__ = ('_var',)

    def __init__(self, var):
        self._var = var

    def _changed(self, change):
        stack = OrderedDict(self._var.get())
        change(stack)
        self._var.set(stack)

    def __setitem__(self, name, ctx):
        self._changed(lambda stack: stack.__setitem__(name, ctx))

    def __delitem__(self, name):
        if name not in self._var.get():
            raise KeyError(name)
        self._changed(lambda stack: stack.__delitem__(name))

    def pop(self, name, *default):
        """Remove ``name`` and return its context (or ``default``)."""
        current = self._var.get()
        if name not in current:
            if default:
                return default[0]
            raise KeyError(name)
        value = current[name]
        del self[name]
        return value

    def clear(self):
        """Exit every context in the current context only."""
        self._var.set(_EMPTY)

    def __getitem__(self, name):
        return self._var.get()[name]

    def __contains__(self, name):
        return name in self._var.get()

    def __iter__(self):
        return iter(self._var.get())

    def __len__(self):
        return len(self._var.get())

    def get(self, name, default=None):
        """Return the context entered as ``name``, or ``default``."""
        return self._var.get().get(name, default)

    def keys(self):
        """Names of the entered contexts, in the order they were entered."""
        return self._var.get().keys()

    def values(self):
        """The entered contexts, in the order they were entered."""
        return self._var.get().values()

    def items(self):
        """(name, context) pairs, in the order they were entered."""
        return self._var.get().items()

    def __eq__(self, other):
        return self._var.get() == other

    __hash__ = None

    def __repr__(self):
        return f'{type(self).__name__}({list(self._var.get().items())!r})'
