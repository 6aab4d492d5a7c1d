"""The orchestrator's subcommands of the ``appofapps`` command, and the commands built on a whole run
(status, rollback, move-state), their confirmations and exit codes.

The top layer: it may import every other part of the orchestrator; nothing imports it but ``appofapps.cli``.
"""
