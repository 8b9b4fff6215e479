"""The ``supplyfeed`` command line."""
