"""Deploying: the deployer and its steps, health, routing, instance controls, the reconciler."""
