#!/bin/sh
# Entry point of the lakehouse Dagster image: assemble LAKEHOUSE_POSTGRES_URL (dagster.yaml's storage)
# from the parts ECS gives the container, then run the command.
#
# ECS injects the RDS password from Secrets Manager as LAKEHOUSE_POSTGRES_PASSWORD (a task secret)
# next to LAKEHOUSE_POSTGRES_HOST, _PORT, _DB and _USER (plain variables). The URL is built here, in
# this process's environment only, with each part percent-encoded, so the password is written in no
# template, task definition or file. A LAKEHOUSE_POSTGRES_URL already set (tests, other platforms)
# is used as it is. The driver is named: SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, and
# the image has psycopg2 (dagster-postgres's driver).
set -eu
if [ -z "${LAKEHOUSE_POSTGRES_URL:-}" ] && [ -n "${LAKEHOUSE_POSTGRES_PASSWORD:-}" ]; then
  LAKEHOUSE_POSTGRES_URL=$(python3 -c '
import os
from urllib.parse import quote
env = os.environ
user, password = quote(env["LAKEHOUSE_POSTGRES_USER"], safe=""), quote(env["LAKEHOUSE_POSTGRES_PASSWORD"], safe="")
host, port, db = env["LAKEHOUSE_POSTGRES_HOST"], env.get("LAKEHOUSE_POSTGRES_PORT", "5432"), env["LAKEHOUSE_POSTGRES_DB"]
print(f"postgresql+psycopg2://{user}:{password}@{host}:{port}/{quote(db, safe=str())}")
')
  export LAKEHOUSE_POSTGRES_URL
  unset LAKEHOUSE_POSTGRES_PASSWORD
fi
exec "$@"
