"""python -m harness: the ffi-harness command line."""

import sys

from harness.cli.main import main

sys.exit(main())
