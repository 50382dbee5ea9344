"""`python -m paddle_electra.cli ...` runs the `paddle-electra` command."""

import sys

from paddle_electra.cli.main import main

sys.exit(main())
