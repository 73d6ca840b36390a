"""``g2m condense``: graph-dataset distillation (Mirage). Filled in by the Mirage work."""
