"""Benchmarks and scale data generators for the restore engine (never imported by core/ or console/)."""
