"""``python -m pipeline`` runs the reelpipe command line."""

import sys

from pipeline.cli import main

sys.exit(main())
