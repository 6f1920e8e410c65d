"""Simulated providers on loopback: the four real wire formats, with faults, for the demo,
the tests and anyone trying a config (``python -m balancewatch.sim --help``).

:mod:`.server` serves them, :mod:`.wire` speaks each provider's format (TheDex verifying
real signatures), :mod:`.accounts` holds balances and faults (:mod:`.faults`), :mod:`.admin`
and :mod:`.cli` steer a running simulator, :mod:`.guide` prints how to use it.
"""
