from isspanel.cli import main

raise SystemExit(main())
