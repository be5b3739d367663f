"""The trigger domain: aggregates, their events and the schedule rules.

Pure code: nothing here reads the clock or touches the network or disk.
"""
