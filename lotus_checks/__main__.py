from lotus_checks.cli import main

raise SystemExit(main())
