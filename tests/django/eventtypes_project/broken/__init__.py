"""A test app of the autodiscovery project."""
