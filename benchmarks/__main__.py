"""``python -m edgecloud_bench`` is the ``edgecloud`` command."""

import sys

from edgecloud_bench.cli import main

sys.exit(main())
