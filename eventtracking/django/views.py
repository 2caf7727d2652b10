"""Django views this library ships: events posted by browsers, and (internal-only) metrics."""
