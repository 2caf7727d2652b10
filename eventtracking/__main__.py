"""``python -m eventtracking``: the ``eventtracking`` command (see :mod:`eventtracking.cli`)."""

import sys

from eventtracking.cli import main

sys.exit(main())
