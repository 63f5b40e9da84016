"""Command-line front doors: `stella`, `signals`, `signals-offline`."""
