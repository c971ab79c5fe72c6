"""``python -m gateway`` is the ``decypharr`` command."""

import sys

from gateway.cli import main

sys.exit(main())
