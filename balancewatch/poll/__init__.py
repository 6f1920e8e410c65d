"""One poll of one account, from request to the record the store commits.

:mod:`.decide`: an account's plan (its settings resolved), the fetch, and the pure decision
(rules -> alert lifecycle -> notifications) that ``run``, ``check`` and ``replay`` share.
"""
