"""``python -m spm_rules`` runs the same command line as the ``spm-rules`` script."""

import sys

from .cli import main

sys.exit(main())
