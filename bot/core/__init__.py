"""The pure core of Parley: personas, prompts, the debate engine and rendering.

Nothing in this package may import ``discord`` or ``google``; adapters live one level up.
"""
