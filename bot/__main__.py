"""`python -m bot` runs the CLI, as the `supportbot` script does."""

from bot.cli import main

main()
