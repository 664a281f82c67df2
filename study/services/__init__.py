"""Domain services: multi-step actions that take plain values, flush, and never commit."""
