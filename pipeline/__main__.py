"""`python -m pipeline ...` is the same as `callaudit ...`.

No logic of its own: everything is in pipeline.cli.
"""

import sys

from pipeline.cli import main

sys.exit(main())
