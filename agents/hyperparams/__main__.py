"""``python -m edgecloud_agents.hyperparams [NAME]`` prints the installed path of a file."""

import sys

from edgecloud_agents.hyperparams import main

sys.exit(main())
