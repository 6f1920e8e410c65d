"""The command line: :mod:`.cli` parses (:mod:`.args`) and dispatches to one small function
per command (``check``, ``status`` and friends in :mod:`.state_commands`, ``replay``,
``demo``, ...)."""
