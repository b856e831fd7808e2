"""Deployment tests: helpers live in e2e/harness.py; the shared fixtures (built_site, smtp_sink,
browser) come from tests/conftest.py."""
