"""Discord cogs: thin layers that parse interactions, call the core and send the results."""
