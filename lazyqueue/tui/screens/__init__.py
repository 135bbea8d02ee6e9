"""Screens of the lazyqueue TUI, one per file."""
