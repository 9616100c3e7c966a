"""``python -m geventws``: the command line, as the ``geventws`` console script."""

from .cli import main

raise SystemExit(main())
