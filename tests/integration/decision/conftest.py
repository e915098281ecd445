from services.decision.bootstrap import MIGRATIONS
from tests.integration.harness import migrated_database

service_db = migrated_database(MIGRATIONS)
