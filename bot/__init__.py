"""Parley: structured multi-persona debates for Discord."""

__version__ = "0.1.0"
