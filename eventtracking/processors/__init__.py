"""Processors: callables that inspect, change, replace or stop an event on its way to backends."""
