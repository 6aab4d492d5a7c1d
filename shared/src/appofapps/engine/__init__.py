"""The Pulumi engine: pinned versions, the bootstrap that provides them, and the state backend."""
