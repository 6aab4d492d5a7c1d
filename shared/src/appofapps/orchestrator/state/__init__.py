"""What the orchestrator keeps beside the state in the environment's backend: the environment lock, deploy and
refresh records, the audit trail, what a crashed run left behind, and stale references.

May import ``planning``; never ``checks``, ``execution`` or ``cli`` (enforced by import-linter).
"""
