from lotus_checks.cli import main
from lotus_checks.cli import tune_gc

tune_gc()
raise SystemExit(main())
