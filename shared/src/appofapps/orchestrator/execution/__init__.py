"""Running one operation over an environment's stacks through the engine: the runner, the engine processes,
retries, the policy gate, live progress and the run's report.

May import ``planning``, ``state`` and ``checks``; never ``cli`` (enforced by import-linter).
"""
