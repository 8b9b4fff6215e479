"""``python -m supplyfeed``: the same as the ``supplyfeed`` command."""

from ._cli.main import console

# The guard matters: the SQLite sink's worker process is spawned, and spawning imports
# the parent's __main__ module again.
if __name__ == "__main__":
    console()
