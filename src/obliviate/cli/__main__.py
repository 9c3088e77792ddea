"""``python -m obliviate.cli ...`` is the ``obliviate`` command: the form ``torchrun ... -m obliviate.cli unlearn ...``
and ``accelerate launch ... -m obliviate.cli unlearn ...`` run (the README's multi-process commands)."""

import sys

from obliviate.cli import main

sys.exit(main())
