"""Channels: where a message goes. The one package that imports Apprise.

A notifier's Apprise URL is one channel (:mod:`.send`), checked at load by the one plugin
its scheme names (:mod:`.apprise_url`, with a table per supported Apprise release in
:mod:`.schemes`); ``bwconsole://`` prints to the terminal for the demo (:mod:`.console`).
What a message says is decided above, in :mod:`balancewatch.notify`.
"""
