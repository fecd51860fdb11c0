"""`python -m pdip ...` is the same as the `pdip` command."""

import sys

from pdip.cli import main

sys.exit(main())
