"""The configuration: one YAML file, read strictly, every mistake reported at once.

text -> :mod:`.yamldoc` (strict YAML, line numbers; scalars in :mod:`.yamlscalars`) ->
:mod:`.interpolate` (``${VAR}``, ``file:``, ``credential:``) -> :mod:`.validate` (section
by section, then across sections, with the schema of :mod:`.models`) -> a frozen
:class:`~balancewatch.config.models.Config`; :mod:`.problems` says where each mistake is.
:mod:`.load` is the pipeline, and what every command calls.
"""
