"""Wiring of the eventtrigger service: settings, the application service,
password hashing, and the command-line tools."""

__version__ = "0.1.0"
