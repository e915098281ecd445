import sys

from services.decision.bootstrap import build
from services.kernel.main import main

if sys.argv[1:2] in (["export-training"], ["install-example"]):  # beside serve/migrate/replay
    from services.decision.admin import app

    app(prog_name="python -m services.decision")
else:
    main("decision", build)
