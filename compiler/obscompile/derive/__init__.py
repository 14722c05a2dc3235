"""Derive stage: facts computed from the model (units, legends, steps, layout)."""
