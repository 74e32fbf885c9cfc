#!/bin/sh
# Run once by the postgres image on a new database: the role the clinigraph
# servers log in as. It owns nothing; `npm run db:migrate` (as the owner)
# grants it the clinical tables and only INSERT and SELECT on the audit tables.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -c "CREATE ROLE clinigraph_server LOGIN PASSWORD '${SERVER_DB_PASSWORD}'"
