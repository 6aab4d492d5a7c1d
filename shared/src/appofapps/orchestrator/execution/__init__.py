"""Running one operation over an environment's stacks through the engine: the run's context, the scheduler,
the operations (one class each) and their collaborators (recovery, signals, fingerprints, the stale cascade),
the engine processes, retries, the policy gate, live progress and the run's report.

May import ``planning``, ``state`` and ``checks``; never ``cli`` (enforced by import-linter).
"""
