"""Processors: callables that inspect, change, replace or stop an event on its way to backends."""


def asks_accepts(call):
    """Mark a filtering processor's ``__call__`` as doing no more than asking ``self.accepts(event)``.

    That is: it returns the event when ``accepts(event)`` is true and raises
    ``EventEmissionExit`` when it is false. A routing backend then asks
    ``accepts`` directly for a dict event and stops the event without raising.
    A subclass that overrides ``__call__`` without this mark is called as usual.
    """
    call.asks_accepts = True
    return call


def accepts_of(processor):
    """Return ``processor.accepts`` if its ``__call__`` is marked with :func:`asks_accepts`, else None."""
    if getattr(getattr(type(processor), '__call__', None), 'asks_accepts', False):
        return getattr(processor, 'accepts', None)
    return None
