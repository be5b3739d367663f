"""Read models derived from the event store.

Each projection keeps its rows in its own tables and records, in the same
transaction, the notification id it has processed, so no event is applied
twice or skipped after a crash.
"""
