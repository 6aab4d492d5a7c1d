"""Pulumi components of the estate, one per module: network, cluster, tenancy and the team app."""
