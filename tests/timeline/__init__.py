"""Timeline tests."""
