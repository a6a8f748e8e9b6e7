"""A faithful simulated Reolink RLC-810A for tests, demos and benchmarks."""
