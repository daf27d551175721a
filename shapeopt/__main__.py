"""`python -m shapeopt` runs the command line."""

import sys

from shapeopt.cli import main

sys.exit(main())
