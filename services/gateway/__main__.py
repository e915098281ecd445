import sys

from services.gateway.bootstrap import build
from services.kernel.config import ServiceSettings
from services.kernel.errors import ConfigError
from services.kernel.main import main
from services.kernel.runtime import App


def build_or_exit(settings: ServiceSettings) -> App:
    """A bad gateway variable stops the process with its name, like the kernel's settings."""
    try:
        return build(settings)
    except ConfigError as e:
        print(f"layercake-gateway: {e}", file=sys.stderr)
        raise SystemExit(2) from e


main("gateway", build_or_exit)
