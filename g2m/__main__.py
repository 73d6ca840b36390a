"""``python -m g2m``: the command line."""

from g2m.cli import main

main()
