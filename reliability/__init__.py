"""Reliability runs (issue #9): crash and restart, full disk, load, API fuzzing and the
authorisation matrix. Each runner writes its JSON results under ``reliability/results/``;
``reliability.report`` turns them into docs/reliability.md."""
