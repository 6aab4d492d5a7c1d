"""Checks of an estate that start no engine: output contracts, environment lint, preflight, cloud access,
runtimes, and the planned graph against the edges the engine observed.

May import ``planning`` and ``state``; never ``execution`` or ``cli`` (enforced by import-linter).
"""
