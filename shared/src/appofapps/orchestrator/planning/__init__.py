"""What to run and in which order, read from the repository alone: no engine, no backend.

Owns discovery of projects and their stack references (every Pulumi language), the shared-library imports,
the dependency graph and change detection since a git base. Imports nothing from ``state``, ``checks``,
``execution`` or ``cli`` (enforced by import-linter in ``nox -s lint``).
"""
