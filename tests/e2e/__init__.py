"""Traffic profiles, traffic processes and the harness of the end-to-end test."""
