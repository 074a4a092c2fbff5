"""``python -m batchai.cli``: the same as the ``batchai`` console script."""

import sys

from . import main

sys.exit(main())
