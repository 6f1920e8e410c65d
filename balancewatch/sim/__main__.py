"""``python -m balancewatch.sim``: serve the simulated providers, or steer a running simulator."""

from balancewatch.sim.server import main

raise SystemExit(main())
