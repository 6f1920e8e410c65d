"""Notify: who is told, in what words, and that it really reached them.

:mod:`.wording` turns alert transitions into notifications (pure), :mod:`.compose` makes
one message of a poll's notifications for one channel, and :mod:`.outbox` routes them to
channels and delivers them from the outbox, retrying until delivered or given up.
"""
