"""`python -m submarine_kernel ...` is the `submarine-kernel` command."""

import sys

from .cli import main

sys.exit(main())
