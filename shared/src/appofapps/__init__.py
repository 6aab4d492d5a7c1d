"""The estate's shared library: engine bootstrap, components, contracts, stack wiring and the orchestrator."""
