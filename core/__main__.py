"""``python -m equimanip`` = the ``equimanip`` command."""

import sys

from equimanip.cli import main

sys.exit(main())
