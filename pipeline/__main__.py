"""`python -m pipeline ...` is the same as `callaudit ...`."""

import sys

from pipeline.cli import main

sys.exit(main())
