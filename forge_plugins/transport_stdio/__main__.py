"""`python -m forge_plugins.transport_stdio --url ...`: the same as `forge-stdio`."""

from forge_plugins.transport_stdio.cli import main

main()
