"""`python -m groupbench` runs the command-line interface."""

from groupbench.cli import main

main()
