"""Deployment helpers: a private Asterisk build and its runtime configuration.

* :mod:`deploy.prefix` builds (or finds) an Asterisk installation.
* :mod:`deploy.pbx` renders the configuration and runs Asterisk.
* :mod:`deploy.ami` is a minimal raw AMI client used for readiness checks.
"""
