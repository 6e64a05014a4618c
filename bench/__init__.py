"""Parley's benchmark: the real bot in its own process against the loopback fakes (``python -m bench``)."""
