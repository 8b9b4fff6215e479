"""Fetching: transports, limits, retry policy and the batch engine."""
