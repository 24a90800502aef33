"""CLI commands, one module each; every one is a thin shell over the core API."""
