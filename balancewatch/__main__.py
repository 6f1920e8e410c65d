from balancewatch.commands.cli import main

raise SystemExit(main())
