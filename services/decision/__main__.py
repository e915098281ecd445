import sys

from services.decision.bootstrap import build
from services.kernel.main import main

if sys.argv[1:2] == ["export-training"]:  # an operator command beside serve/migrate/replay
    from services.decision.admin import app

    app(prog_name="python -m services.decision")
else:
    main("decision", build)
