"""A Django project of two apps, each with a ``tracking_events`` module, for the autodiscovery tests."""
