"""docs/operating.rst is true to the code: its metric list is exactly what is exported (Prometheus names, label
names and types; OpenTelemetry names and units), and its alerting rules are valid PromQL over those metrics."""

import re
from pathlib import Path

import promql_parser
import pytest
import yaml
from prometheus_client import REGISTRY

from eventtracking import metrics
from eventtracking.stats import EventCounters
from tests.test_metrics import OTEL_INSTRUMENTS

DOC = (Path(__file__).resolve().parent.parent / 'docs' / 'operating.rst').read_text(encoding='utf-8')


def _section(title):
    """The text of the section ``title`` up to the next heading of any level."""
    start = DOC.index(f'\n{title}\n') + len(title) + 2
    found = re.search(r'\n[^\n]+\n([-~=^])\1{3,}\n', DOC[start:])
    return DOC[start:start + found.start()] if found else DOC[start:]


def _documented_rows():
    """[(Prometheus cell, OpenTelemetry cell)] of the metric table (its header left out)."""
    table = _section('What is exported').split('.. list-table::', 1)[1]
    rows = re.split(r'\n   \* - ', table)[2:]
    return [tuple(' '.join(cell.split()) for cell in row.split('\n     - ')[:2]) for row in rows]


@pytest.fixture
def exported():
    """{Prometheus family name: (type, label names)} of the library's metrics, as a scrape shows them."""
    metrics.enable('prometheus')
    metrics.emitted()
    EventCounters('docs').increment('filtered')
    metrics.published('docs', 1, 0.01)
    metrics.register_delivery('docs', lambda: {'queued': 1})
    try:
        families = {}
        for family in REGISTRY.collect():
            if family.name.startswith('eventtracking_'):
                labels = {name for sample in family.samples for name in sample.labels if name != 'le'}
                families[family.name] = (family.type, labels)
        yield families
    finally:
        metrics.enable(None)
        metrics._sources.pop('docs', None)  # pylint: disable=protected-access


def test_the_metric_list_is_exactly_what_is_exported(exported):  # pylint: disable=redefined-outer-name
    documented_prometheus, documented_otel = {}, {}
    for prometheus_cell, otel_cell in _documented_rows():
        found = re.fullmatch(r'``(\w+)(?:\{([\w,]*)\})?``( \(histogram\))?', prometheus_cell)
        assert found, prometheus_cell
        name, labels, histogram = found.groups()
        kind = 'histogram' if histogram else 'counter' if name.endswith('_total') else 'gauge'
        family = name[:-len('_total')] if kind == 'counter' else name
        documented_prometheus[family] = (kind, set(labels.split(',')) if labels else set())
        found = re.match(r'``([\w.]+)`` \(``([^`]+)``', otel_cell)
        assert found, otel_cell
        documented_otel[found.group(1)] = found.group(2)
    assert documented_prometheus == exported
    assert documented_otel == {name: unit for name, (unit, _, _) in OTEL_INSTRUMENTS.items()}
    for name in list(documented_prometheus) + list(documented_otel):
        assert name in metrics.__doc__


def _rules():
    block = _section('Alerting rules').split('.. code-block:: yaml\n', 1)[1]
    block = re.split(r'\n(?=\S)', block, maxsplit=1)[0]  # the indented block only
    return yaml.safe_load(block)['groups'][0]['rules']


def test_the_alerting_rules_are_valid_promql_over_the_exported_metrics(exported):  # pylint: disable=redefined-outer-name
    samples = {}
    for family, (kind, labels) in exported.items():
        suffixes = {'counter': ['_total'], 'histogram': ['_bucket', '_count', '_sum'], 'gauge': ['']}[kind]
        for suffix in suffixes:
            samples[family + suffix] = labels
    rules = _rules()
    assert len(rules) >= 4
    for rule in rules:
        expr = rule['expr']
        promql_parser.parse(expr)  # raises on invalid PromQL
        names = re.findall(r'\beventtracking_\w+', expr)
        assert names, rule['alert']
        for name in names:
            assert name in samples, (rule['alert'], name)
        for grouping in re.findall(r'by \(([\w, ]+)\)', expr):
            for label in grouping.replace(' ', '').split(','):
                assert all(label in samples[name] for name in names), (rule['alert'], label)
        for label, values in re.findall(r'(\w+)[!=]~?"([^"]*)"', expr):
            assert all(label in samples[name] for name in names), (rule['alert'], label)
            if label == 'reason':
                from eventtracking import stats  # pylint: disable=import-outside-toplevel
                reasons = {value for key, value in vars(stats).items() if key.isupper() and isinstance(value, str)}
                assert set(values.split('|')) <= reasons, (rule['alert'], values)


def test_the_not_draining_rule_fires_when_nothing_was_ever_published():
    """A backend whose spool only grows has no ``published`` series at all: ``and ... == 0`` would match nothing."""
    [rule] = [rule for rule in _rules() if rule['alert'] == 'EventTrackingSpoolNotDraining']
    assert re.search(r'\bunless\b', rule['expr']) and not re.search(r'\band\b', rule['expr']), rule['expr']
