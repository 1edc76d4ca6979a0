"""`python -m connector.cli`: the same as `smsync`."""

from connector.cli import main

main()
