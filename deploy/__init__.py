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
* :mod:`deploy.process` - Asterisk as a child process: ports, spawn, boot wait.
* :mod:`deploy.probe` - one AMI login that waits for ``FullyBooted``.
* :mod:`deploy.pidfile` - which Asterisk runs from a run dir, and where it listens.
* :mod:`deploy.daemon` - a detached Asterisk for the CLI: start, stop, ``asterisk -rx``.
* :mod:`deploy.files` - atomic writes into the run dir.
"""
