from services.kernel.main import main
from services.orchestrator.bootstrap import build

main("orchestrator", build)
