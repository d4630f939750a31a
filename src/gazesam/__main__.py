from gazesam.cli.main import main

raise SystemExit(main())
