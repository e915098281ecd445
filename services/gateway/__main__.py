from services.gateway.bootstrap import build
from services.kernel.main import main

main("gateway", build)
