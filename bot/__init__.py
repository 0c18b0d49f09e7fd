"""Wiring: settings, the ASGI app, the CLI, the inbox, the sender and one adapter per channel."""
