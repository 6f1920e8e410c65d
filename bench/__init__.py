"""balancewatch's benchmark suite (issue 7): ``python -m bench.run``; see docs/benchmarks.md.

Modules, in the order a run uses them:

- ``workload``  the N accounts, the daemon's config, the crossings, the requests, the schedule
- ``simhost``   the simulated providers in their own process, steered over stdin
- ``receiver``  the ``json://`` webhook the daemon notifies (a thread of the orchestrator)
- ``load``      the baselines (raw asyncio client, aiohttp) and the blackbox probe driver
- ``peer``      Prometheus blackbox_exporter: install, config, process
- ``proc``      CPU time, RSS and I/O of a process, read from ``/proc``
- ``analyze``   the daemon's JSON log -> figures; percentiles; the profile's top frames
- ``startup``   CLI start-up (hyperfine or repeated timing) and ``-X importtime``
- ``report``    results JSON -> docs/benchmarks.md
- ``run``       the orchestration and the command line
"""
