"""Backends: objects with a ``send(event)`` method that deliver events somewhere."""
