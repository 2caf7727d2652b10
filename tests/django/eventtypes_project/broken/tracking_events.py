"""A bad definition: its example fails its own schema."""

from eventtracking.registry import EventType, Field, register

register(EventType('tests.broken.thing', 'Broken.', fields={'n': Field(int)}, example={'n': 'one'}))
