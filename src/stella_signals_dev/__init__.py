"""Development and test tooling for stella-signals: not part of the product.

It lives beside the product package in the repository (and its source distribution) but the
product wheel leaves it out (`[tool.hatch.build.targets.wheel]` in pyproject.toml). The dev
install (`make venv`, an editable install) makes it importable; the product reaches it only
from the developer commands (`stella dev`, `signals serve --demo`), which say so in one line
when it is missing.
"""
