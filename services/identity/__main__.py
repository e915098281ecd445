from services.identity.bootstrap import build
from services.kernel.main import main

main("identity", build)
