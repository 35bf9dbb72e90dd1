"""`python -m contextdesk.cli`."""

from contextdesk.cli import main

main()
