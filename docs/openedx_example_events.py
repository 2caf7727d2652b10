"""An example catalog: a few well-known Open edX events, defined with :mod:`eventtracking.registry`.

The fields follow the public Open edX Event Reference (the "Events in the
Tracking Logs" chapter of the Research Guide); the descriptions are ours.
``docs/event_types.rst`` renders this module with the ``eventtracking-catalog``
directive, so building the docs also checks every definition (and example)
here.
"""

from eventtracking.registry import EventType, Field, register

OWNER = 'openedx/edx-platform'

ENROLLMENT_FIELDS = {
    'course_id': Field(str, 'The course run the enrollment is in (a course key).'),
    'user_id': Field(int, 'The learner whose enrollment changed.'),
    'mode': Field(str, 'The enrollment mode (track): audit, honor, verified, professional, ...'),
}

ENROLLMENT_ACTIVATED = register(EventType(
    'edx.course.enrollment.activated',
    'A learner enrolled in a course run, or an enrollment that was inactive became active again. '
    'Emitted by the server.',
    fields=ENROLLMENT_FIELDS,
    example={'course_id': 'course-v1:edX+DemoX+Demo_Course', 'user_id': 10938, 'mode': 'audit'},
    owner=OWNER,
))

ENROLLMENT_DEACTIVATED = register(EventType(
    'edx.course.enrollment.deactivated',
    'A learner unenrolled from a course run (the enrollment stays, inactive). Emitted by the server.',
    fields=ENROLLMENT_FIELDS,
    example={'course_id': 'course-v1:edX+DemoX+Demo_Course', 'user_id': 10938, 'mode': 'verified'},
    owner=OWNER,
))

PROBLEM_CHECK = register(EventType(
    'problem_check',
    'The server graded a learner\'s answers to a problem (the server-side problem_check event).',
    fields={
        'problem_id': Field(str, 'The usage key of the problem block.'),
        'answers': Field(dict, 'The answers submitted, by input id.'),
        'attempts': Field(int, 'How many times the learner has submitted answers to this problem.'),
        'correct_map': Field(dict, 'For each input id, how it was graded (correctness, points, hints, message).'),
        'grade': Field(float, 'The points earned.'),
        'max_grade': Field(float, 'The points possible.'),
        'state': Field(dict, 'The problem\'s state before this submission (seed, earlier answers, ...).'),
        'submission': Field(dict, 'For each input id: the question, the answer, whether it was correct, the '
                                  'response and input types and the variant.'),
        'success': Field(str, 'Whether every answer was correct.', choices=['correct', 'incorrect']),
    },
    example={
        'problem_id': 'block-v1:edX+DemoX+Demo_Course+type@problem+block@d2e35c1d294b4ba0b3b1048615605d2a',
        'answers': {'d2e35c1d294b4ba0b3b1048615605d2a_2_1': ['choice_0', 'choice_2']},
        'attempts': 1,
        'correct_map': {'d2e35c1d294b4ba0b3b1048615605d2a_2_1': {
            'correctness': 'correct', 'npoints': None, 'msg': '', 'hint': '', 'hintmode': None,
            'queuestate': None,
        }},
        'grade': 1,
        'max_grade': 1,
        'state': {'seed': 1, 'done': None, 'student_answers': {}, 'correct_map': {}, 'input_state': {}},
        'submission': {'d2e35c1d294b4ba0b3b1048615605d2a_2_1': {
            'question': 'Which of these are prime numbers?', 'answer': ['2', '7'], 'correct': True,
            'response_type': 'choiceresponse', 'input_type': 'checkboxgroup', 'variant': '',
        }},
        'success': 'correct',
    },
    owner=OWNER,
))

PLAY_VIDEO = register(EventType(
    'play_video',
    'A learner started or resumed a video (the browser event; edx.video.played on mobile).',
    fields={
        'id': Field(str, 'The video component\'s identifier.'),
        'code': Field(str, 'The YouTube id of the video, or html5 or mobile for a video played from a file.'),
        'currentTime': Field(float, 'Where in the video playing started, in seconds.'),
        'duration': Field(float, 'The length of the video, in seconds.', required=False),
    },
    example={'id': 'i4x-edX-DemoX-video-0b9e39477cf34507a7a48f74be381fdd', 'code': 'html5',
             'currentTime': 23.4, 'duration': 195.0},
    owner=OWNER,
))
