"""Sinks: where canonical documents, the run ledger and dead letters are stored."""
