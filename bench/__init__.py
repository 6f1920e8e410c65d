"""balancewatch's benchmark suite (issue 7): ``python -m bench.run``; see docs/benchmarks.md.

Modules, in the order a run uses them:

- ``run``         the command line and the order of things
- ``workload``    the N accounts, the daemon's config, the crossings, the requests, the schedule
- ``simhost``     the simulated providers in their own process, steered over stdin
- ``phases``      the daemon's phase (and the simulator's handle, shared by every phase)
- ``receiver``    the ``json://`` webhook the daemon notifies (a thread of the orchestrator)
- ``references``  the references' phase: ``load`` (raw asyncio client, aiohttp, the probe
  driver) and ``peer`` (blackbox_exporter: install, config, process)
- ``proc``        CPU time (per process and per thread), RSS and disk writes from ``/proc``
- ``analyze``     the daemon's JSON log -> figures; percentiles; a py-spy profile's frames
- ``memory``      the history cache once full; ``rss``: memory before the first poll
- ``startup``     CLI start-up (hyperfine or repeated timing) and ``-X importtime``
- ``report``      results JSON -> docs/benchmarks.md (with ``context`` and ``tables``)
- ``unlimited``, ``whatif``  run the daemon past the old YAML value limit, or with a
  suggested change patched in (``--what-if``)
"""
