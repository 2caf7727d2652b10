"""Emit two events into tracking.log, one JSON line each."""

import logging

from eventtracking import tracker
from eventtracking.backends.logger import LoggerBackend

# 1. The tracking log: the 'tracking' logger writes bare lines to tracking.log.
handler = logging.FileHandler('tracking.log')
handler.setFormatter(logging.Formatter('%(message)s'))
tracking_logger = logging.getLogger('tracking')
tracking_logger.addHandler(handler)
tracking_logger.setLevel(logging.INFO)
tracking_logger.propagate = False

# 2. The default tracker, with one backend: a logger backend writing to 'tracking'.
tracker.register_tracker(tracker.Tracker(backends={
    'tracking_logs': LoggerBackend(name='tracking', max_event_size=50000),
}))

# 3. Emit. Events emitted inside a context carry its fields.
tracker.emit('edx.course.enrollment.activated',
             {'course_id': 'course-v1:edX+DemoX+Demo', 'mode': 'audit'})
with tracker.get_tracker().context('user', {'user_id': 42, 'username': 'alice'}):
    tracker.emit('edx.video.played', {'video_id': 'intro', 'position': 12.5})
