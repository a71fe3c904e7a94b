"""Synthetic look-alike data for the sample data, tests and benchmarks: the
stage-file generator and the raw competition format writer."""
