"""`python -m meshplane` runs the command-line interface."""

from meshplane.cli import main

main()
