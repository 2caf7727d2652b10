"""The event types of the ``videos`` app, registered when Django starts."""

from eventtracking.registry import EventType, Field, register

PLAYED = register(EventType(
    'tests.videos.played', 'A learner played a video.',
    fields={'id': Field(str, 'The video block id.'), 'currentTime': Field(float, 'Seconds into the video.')},
    example={'id': 'i4x-video-1', 'currentTime': 12.5},
))
