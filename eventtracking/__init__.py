"""Track point-in-time events and route them to storage and analytics systems.

A drop-in replacement for Open edX's ``event-tracking`` package: same import
name, module paths, names and settings.
"""

__version__ = '4.3.0'
