from services.decision.bootstrap import build
from services.kernel.main import main

main("decision", build)
