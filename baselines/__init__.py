"""Baselines a practitioner tries before a meta-learned network."""
