"""Handlers: the conversation, the same for every channel (reads Inbound, returns Outbound)."""
