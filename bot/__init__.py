"""The conference server's core, and the entry points on top of it.

The core: ``models`` (records), ``errors`` (the one root), ``rules`` (what a valid value is),
``events`` (change records and observers), ``service`` (the rules in action), ``repository``
(all SQL), ``config`` (settings), ``text`` and ``logs`` (safe output). It imports nothing of
``commands``, ``telephony`` or ``deploy``.

The entry points: ``__main__`` and ``cli`` (the admin command line), ``serve`` (everything
together) and ``exits`` (exit codes), with ``wiring``, the one composition root.
"""
