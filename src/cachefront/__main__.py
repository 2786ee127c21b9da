"""Allows `python -m cachefront`."""

from cachefront.cli import main

main()
