"""Write stage: put artifacts into `out/` atomically."""
