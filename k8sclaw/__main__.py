"""`python -m k8sclaw` runs the CLI."""

from k8sclaw.cli import main

raise SystemExit(main())
