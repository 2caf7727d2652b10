"""The settings tree asks each class what is wrong with its options (``check_options``), knowing no class itself."""

from eventtracking.django.checks import check_event_tracking_settings
from eventtracking.problems import Problem, item_path

SELF_CHECKING = 'tests.django.test_check_options.SelfCheckingBackend'
CONSTRUCTED = []


class SelfCheckingBackend:
    """A backend whose ``size`` must be positive (an error) and should be even (a warning)."""

    def __init__(self, size=2):
        CONSTRUCTED.append(size)
        self.size = size

    @classmethod
    def check_options(cls, options, path):
        """Problems of ``size``: not positive (E004, as the constructor would), odd (W001, for the test's sake)."""
        size = options.get('size', 2)
        if size <= 0:
            return [Problem('eventtracking.E004', item_path(path, 'size'), f'must be positive, not {size!r}')]
        if size % 2:
            return [Problem('eventtracking.W001', item_path(path, 'size'), f'{size} is odd')]
        return []

    def send(self, event):
        """Take the event."""


class BrokenCheck(SelfCheckingBackend):
    """A backend whose own check raises."""

    @classmethod
    def check_options(cls, options, path):
        raise KeyError('size')


def messages(settings, **options):
    settings.EVENT_TRACKING_ENABLED = True
    settings.EVENT_TRACKING_BACKENDS = {'b': {'ENGINE': options.pop('engine', SELF_CHECKING), 'OPTIONS': options}}
    CONSTRUCTED.clear()
    return [(message.id, message.msg) for message in check_event_tracking_settings()]


def test_an_error_the_class_finds_is_reported_at_its_path_and_the_class_is_not_constructed(settings):
    assert messages(settings, size=0) == [
        ('eventtracking.E004', "EVENT_TRACKING_BACKENDS['b']['OPTIONS']['size']: must be positive, not 0")]
    assert CONSTRUCTED == []


def test_a_warning_the_class_finds_is_reported_and_the_class_is_constructed(settings):
    assert messages(settings, size=3) == [('eventtracking.W001', "EVENT_TRACKING_BACKENDS['b']['OPTIONS']['size']: 3 is odd")]
    assert CONSTRUCTED == [3]


def test_options_the_class_accepts_pass(settings):
    assert messages(settings, size=4) == []
    assert CONSTRUCTED == [4]


def test_a_check_options_that_raises_is_reported_as_the_class_failing(settings):
    [(check_id, text)] = messages(settings, engine='tests.django.test_check_options.BrokenCheck', size=4)
    assert check_id == 'eventtracking.E004'
    assert text == ("EVENT_TRACKING_BACKENDS['b']['OPTIONS']: tests.django.test_check_options.BrokenCheck.check_options "
                    "raised KeyError: 'size'")
