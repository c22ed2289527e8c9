"""`python -m sysnoise ...` (also what `torchrun -m sysnoise bench ...` runs on every rank)."""

import sys

from sysnoise.cli import main

sys.exit(main())
