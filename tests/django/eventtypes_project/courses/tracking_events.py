"""The event types of the ``courses`` app, registered when Django starts."""

from eventtracking.registry import EventType, Field, register

ENROLLED = register(EventType(
    'tests.courses.enrolled', 'A learner enrolled in a course.',
    fields={'course_id': Field(str, 'The course run key.'), 'mode': Field(str, 'The enrollment mode.')},
    example={'course_id': 'course-v1:edX+DemoX+Demo', 'mode': 'audit'},
    owner='courses team',
))
