"""``balancewatch`` with the YAML loader's value limit raised: ``python -m bench.unlimited ARGS``.

``balancewatch.config.yamldoc.MAX_VALUES`` (100,000) guards against alias bombs, but it counts
every value of the document, so a config of about 6,000 accounts with a few rules each
already exceeds it: 10,000 accounts cannot be loaded at all. The bench needs 10,000, so
for a config the real ``balancewatch validate`` refuses for that reason alone, it runs the
daemon through here: the same ``balancewatch.commands.cli.main``, with only that constant raised
(and says so in the results). Everything else is the code under test, unchanged, unless
``BENCH_WHATIF`` names an experiment of ``bench.whatif`` (``--what-if`` runs only).
"""

from __future__ import annotations

import os
import sys

import balancewatch.config.yamldoc
from balancewatch.commands.cli import main

RAISED_LIMIT = 2_000_000

if __name__ == "__main__":
    balancewatch.config.yamldoc.MAX_VALUES = RAISED_LIMIT
    if os.environ.get("BENCH_WHATIF"):
        from bench import whatif

        whatif.apply(os.environ["BENCH_WHATIF"])
    raise SystemExit(main(sys.argv[1:]))
