"""Calls N distinct functions of a generated module (argv: folder with many_funcs.py)."""

import sys

sys.path.insert(0, sys.argv[1])
import many_funcs

for name in sorted(n for n in dir(many_funcs) if n.startswith("f")):
    for _ in range(3):
        getattr(many_funcs, name)()
