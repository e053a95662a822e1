"""Adapters to the outside world, chosen by configuration: one small protocol each."""
