"""One module per scenario; each registers itself with ``benchmarks.registry.scenario``."""
