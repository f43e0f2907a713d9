"""Shared fixtures: loopback servers (HTTP, SMTP), the state databases (SQLite, PostgreSQL) and a headless browser."""

pytest_plugins = ["tests.fixtures.servers", "tests.fixtures.database", "tests.fixtures.browser"]
