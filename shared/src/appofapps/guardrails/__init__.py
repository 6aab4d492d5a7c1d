"""Guardrails: the estate's policy rules as pure functions over resources, and how each environment enforces them.

``rules`` lists every rule; ``aws`` and ``kubernetes`` hold their checks; ``pack`` wires them into a
pulumi-policy pack (platform/policy); ``enforcement`` reads the per-environment enforcement file beside it.
"""
