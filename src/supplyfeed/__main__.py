"""``python -m supplyfeed``: the same as the ``supplyfeed`` command."""

from ._cli.main import main

raise SystemExit(main())
