from services.decision.bootstrap import MIGRATIONS
from tests.conftest import migrated_database

service_db = migrated_database(MIGRATIONS)
