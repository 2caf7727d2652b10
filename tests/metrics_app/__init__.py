"""A tiny Django project that tests/test_metrics_gunicorn.py serves with real gunicorn workers."""
