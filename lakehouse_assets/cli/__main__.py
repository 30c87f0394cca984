"""`python -m lakehouse_assets.cli`: the `lakehouse` command."""

import sys

from lakehouse_assets.cli import main

sys.exit(main())
