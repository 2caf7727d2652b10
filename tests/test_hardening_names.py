"""An event name whose ``repr()`` and ``str()`` raise cannot make any of the library's log records unformattable."""

import logging
import threading
from types import SimpleNamespace

import mongomock
import pytest

from eventtracking import handlers, tracker
from eventtracking.backends.logger import LoggerBackend
from eventtracking.backends.mongodb import MongoBackend
from eventtracking.backends.routing import RoutingBackend
from eventtracking.exceptions import EventDropped
from eventtracking.processors.exceptions import EventEmissionExit
from eventtracking.tracker import Tracker
from tests.servers import CollectingBackend


class HostileName:
    """A name that cannot be printed."""

    def __repr__(self):
        raise RuntimeError('repr refused')

    def __str__(self):
        raise RuntimeError('str refused')

    def __format__(self, spec):
        raise RuntimeError('format refused')


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def records():
    handler = Records()
    logger = logging.getLogger('eventtracking')
    saved = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(saved)


class Dropping:
    mutates_events = False

    def send(self, event):
        raise EventDropped('dropped on purpose', event.get('name'))


def failing_processor(event):
    raise ValueError('bad processor')


def test_every_record_about_a_hostile_name_formats(records, monkeypatch):
    name = HostileName()
    monkeypatch.setattr('eventtracking.backends.mongodb.MongoClient', mongomock.MongoClient)
    logging.getLogger('tests.hostile').setLevel(logging.INFO)
    root = Tracker(backends={
        'log': LoggerBackend(name='tests.hostile'), 'failing': CollectingBackend(fail_times=2),
        'dropping': Dropping(), 'keeping': CollectingBackend(), 'mongo': MongoBackend(),
        'tree': RoutingBackend(backends={'log': LoggerBackend(name='tests.hostile')}, processors=[failing_processor]),
    })
    root.emit(name, {'lock': threading.Lock()})  # uncopyable for 'keeping' and 'mongo'
    root.emit(name, {'course_id': 'course-v1:edX+DemoX+Demo'})
    mongo = root.get_backend('mongo')
    mongo._retry.failed()  # pylint: disable=protected-access
    mongo.send({'name': name})

    class Broken:
        def get(self):
            raise RuntimeError('locator is broken')

    Tracker(context_locator=Broken()).emit(name)
    tracker.TRACKERS.pop(tracker.DEFAULT_TRACKER_NAME, None)
    tracker.emit(name)

    handlers.send_tracking_log_to_backends(sender=None, signal=None, tracking_log=SimpleNamespace(name=name),
                                           from_event_bus=True)

    def exit_processor(event):
        raise EventEmissionExit()

    bus_tracker = Tracker(backends={'bus': _bus_backend(exit_processor)})
    tracker.register_tracker(bus_tracker)
    handlers.send_tracking_log_to_backends(
        sender=None, signal=None, from_event_bus=True,
        tracking_log=SimpleNamespace(name=name, timestamp=None, data='{}', context='{}'),
    )

    assert len(records) >= 10
    formatter = logging.Formatter('%(name)s %(levelname)s %(message)s')
    texts = [formatter.format(record) for record in records]
    assert sum('<unprintable HostileName>' in text for text in texts) >= 10
    stats = root.stats
    assert stats['backend_error'] >= 1 and stats['processor_error'] >= 1 and stats['uncopyable'] >= 1
    assert mongo.stats.get('unserializable') == 1  # BSON cannot encode the name: counted where it failed


def _bus_backend(processor):
    from eventtracking.backends.event_bus import EventBusRoutingBackend  # pylint: disable=import-outside-toplevel

    return EventBusRoutingBackend(processors=[processor], backends={'keeping': CollectingBackend()})
