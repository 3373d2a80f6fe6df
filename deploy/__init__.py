"""The bundled Asterisk: building it, configuring it and running it.  Imports nothing of
the application (``bot``, ``commands``, ``telephony``).

Building the installation:

* :mod:`deploy.install` - what an installation is (:class:`AsteriskInstall`) and its version.
* :mod:`deploy.prefix` - find the host's Asterisk or build the private prefix
  (``python -m deploy.prefix``).
* :mod:`deploy.apt` - the host's apt sources, a private apt, download and unpack.
* :mod:`deploy.modules` - the Asterisk modules the PBX loads.

Running it:

* :mod:`deploy.settings` - ``PBX_*`` settings (:class:`PbxConfig`) and the one port parser.
* :mod:`deploy.credentials` - the AMI login, kept in the run dir (0600).
* :mod:`deploy.render` - the templates rendered into ``run_dir/etc``.
* :mod:`deploy.process` - Asterisk as a process: ports, spawn, boot wait.
* :mod:`deploy.probe` - one AMI login that waits for ``FullyBooted``.
* :mod:`deploy.pidfile` - which Asterisk runs from a run dir, and where it listens.
* :mod:`deploy.daemon` - a detached Asterisk (the CLI, ``serve``): start, stop, ``asterisk -rx``.
* :mod:`deploy.keeper` - the Asterisk ``serve`` keeps running: adopt or start, restart, stop.
* :mod:`deploy.policies` - ``PBX_BAN_*`` and ``PBX_LOG_*``: when to ban, how much log to keep.
* :mod:`deploy.bans` - banned sources of bad logins (``bans.json``) and their PJSIP ACL.
* :mod:`deploy.logfiles` - Asterisk's log files: sizes, rotated ones removed, no links followed.
* :mod:`deploy.files` - atomic writes into the run dir.
"""
