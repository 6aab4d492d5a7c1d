"""Delivery: scaffolding new apps and the generated files CI runs from (workflows, CODEOWNERS)."""
