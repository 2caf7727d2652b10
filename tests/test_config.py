"""eventtracking.config: the SEND_TRACKING_EVENT_EMITTED_SIGNAL toggle."""

from eventtracking.config import SEND_TRACKING_EVENT_EMITTED_SIGNAL


def test_the_toggle_is_named_after_its_setting_and_off_by_default(settings):
    assert SEND_TRACKING_EVENT_EMITTED_SIGNAL.name == 'SEND_TRACKING_EVENT_EMITTED_SIGNAL'
    if hasattr(settings, 'SEND_TRACKING_EVENT_EMITTED_SIGNAL'):
        del settings.SEND_TRACKING_EVENT_EMITTED_SIGNAL
    assert SEND_TRACKING_EVENT_EMITTED_SIGNAL.is_enabled() is False


def test_the_toggle_follows_the_setting(settings):
    settings.SEND_TRACKING_EVENT_EMITTED_SIGNAL = True
    assert SEND_TRACKING_EVENT_EMITTED_SIGNAL.is_enabled() is True
    settings.SEND_TRACKING_EVENT_EMITTED_SIGNAL = False
    assert SEND_TRACKING_EVENT_EMITTED_SIGNAL.is_enabled() is False


def test_without_edx_toggles_the_toggle_still_reads_the_setting(settings, monkeypatch):
    import importlib  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel

    import eventtracking  # pylint: disable=import-outside-toplevel

    monkeypatch.setattr(eventtracking, 'config', eventtracking.config)
    monkeypatch.setitem(sys.modules, 'edx_toggles', None)
    monkeypatch.setitem(sys.modules, 'edx_toggles.toggles', None)
    monkeypatch.delitem(sys.modules, 'eventtracking.config')

    fallback = importlib.import_module('eventtracking.config').SEND_TRACKING_EVENT_EMITTED_SIGNAL

    assert fallback is not SEND_TRACKING_EVENT_EMITTED_SIGNAL
    assert fallback.name == 'SEND_TRACKING_EVENT_EMITTED_SIGNAL'
    settings.SEND_TRACKING_EVENT_EMITTED_SIGNAL = True
    assert fallback.is_enabled() is True
    del settings.SEND_TRACKING_EVENT_EMITTED_SIGNAL
    assert fallback.is_enabled() is False
