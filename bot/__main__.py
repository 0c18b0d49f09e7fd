"""`python -m bot` is the `jembatan` command."""

import sys

from bot.cli import main

sys.exit(main())
