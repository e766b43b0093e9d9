"""Workloads: the clients the harness makes, and the experiments chapters run with them."""
