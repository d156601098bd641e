from chargeback.cli import main

raise SystemExit(main())
