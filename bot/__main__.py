"""`python -m bot` runs the CLI, as the `supportbot` script does."""

from bot.cli import main

# Guarded: a multiprocessing forkserver may import the main module of its parent.
if __name__ == "__main__":
    main()
