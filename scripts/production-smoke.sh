#!/usr/bin/env bash
# The Dockerfile's runtime stage, performed outside Docker (CI has no Docker
# engine): this working copy, installed with `npm ci`, plays the build stage.
# In a temporary copy of the tree (without what .dockerignore leaves out):
# a production-only install (`npm ci --omit=dev`, must succeed), migrations as
# the deploy step on a fresh PostgreSQL database, the server started in
# production mode with bin/clinigraph and the secrets it requires, /readyz,
# one authenticated GraphQL query and the metrics token checked, then SIGTERM,
# which must stop it gracefully (exit 0).
# (prisma and typescript are there: @prisma/client asks for them as peers.)
# Needs PostgreSQL (PGHOST, PGPORT, PGUSER; psql) and, when REDIS_URL is set, Redis.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
export PGHOST PGPORT PGUSER

started=$(date +%s)
say() { printf '[production-smoke %3ss] %s\n' "$(($(date +%s) - started))" "$*"; }
die() { say "FAILED: $*" >&2; [ -f "${work:-/nonexistent}/server.log" ] && tail -n 30 "$work/server.log" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/clinigraph-smoke.XXXXXX")
database="clinigraph_smoke_$(date +%s)_$$"
# Production runs the server as a role that does not own the tables (README, "Database roles").
server_role="${database}_server"
server=
cleanup() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then kill -KILL "$server" 2>/dev/null || true; fi
  psql -d postgres -qc "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1 || true
  psql -d postgres -qc "DROP ROLE IF EXISTS \"$server_role\"" >/dev/null 2>&1 || true
  # Deleting a node_modules takes long on a busy disk; CI need not wait for it.
  (rm -rf "$work" &)
}
trap cleanup EXIT

# What this script performs must stay what the image does.
grep -q '^RUN npm ci --omit=dev' "$root/Dockerfile" && grep -q 'MIGRATE_ON_START=false' "$root/Dockerfile" &&
  grep -q '^CMD \["/app/bin/clinigraph"\]' "$root/Dockerfile" || die "the Dockerfile's runtime stage no longer matches this script"

say "build stage: front-end build, if the project defines one"
(cd "$root" && npm run build --if-present --silent)

say "runtime stage: copy of the tree without .dockerignore's entries"
mkdir "$work/app"
tar -C "$root" --exclude-from="$root/.dockerignore" -cf - . | tar -C "$work/app" -xf -
cd "$work/app"
[ -f src/generated/prisma/client.ts ] || die "src/generated/ is missing: run npm ci in $root first (the build stage)"

say "npm ci --omit=dev"
npm ci --omit=dev --prefer-offline --no-audit --no-fund --loglevel=error >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; die "npm ci --omit=dev failed"; }
for dev in graphql-codegen autocannon; do
  [ ! -e "node_modules/.bin/$dev" ] || die "dev dependency $dev was installed"
done

secret() { node -e 'console.log(require("node:crypto").randomBytes(32).toString("hex"))'; }
signing_key=$(npx --no-install tsx scripts/audit.ts keygen --name smoke/audit | sed -n 's/^AUDIT_SIGNING_KEY=//p')
[ -n "$signing_key" ] || die "npm run audit:keygen made no key"
export NODE_ENV=production CLINIGRAPH_MODE=production HOST=127.0.0.1 PORT=0 LOG_LEVEL=info \
  DATA_DIR="$work/data" MIGRATE_ON_START=false \
  DATABASE_URL="postgresql://$server_role@$PGHOST:$PGPORT/$database" \
  AUTH_HMAC_SECRET="$(secret)" AUTH_ISSUER=https://idp.smoke.clinigraph AUTH_AUDIENCE=clinigraph \
  METRICS_TOKEN="$(secret)" AUDIT_SIGNING_KEY="$signing_key" AUDIT_CHECKPOINT_DIR="$work/witness"

say "deploy step: npm run db:migrate as the owner on a fresh database ($database), granting the server's role"
psql -d postgres -qc "CREATE DATABASE \"$database\""
psql -d postgres -qc "CREATE ROLE \"$server_role\" LOGIN"
DATABASE_MIGRATION_URL="postgresql://$PGUSER@$PGHOST:$PGPORT/$database" npm run --silent db:migrate >"$work/migrate.log" 2>&1 ||
  { cat "$work/migrate.log" >&2; die "migrations failed"; }

say "start: bin/clinigraph in production mode"
bin/clinigraph >"$work/server.log" 2>&1 &
server=$!
url=
for _ in $(seq 1 240); do
  url=$(sed -n 's/^clinigraph GraphQL API: \(http[^ ]*\)$/\1/p' "$work/server.log")
  [ -n "$url" ] && break
  kill -0 "$server" 2>/dev/null || die "the server exited before it listened"
  sleep 0.25
done
[ -n "$url" ] || die "the server did not listen within 60 s"
base=${url%/graphql}
for _ in $(seq 1 240); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" = 200 ] && break
  sleep 0.25
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" = 200 ] || die "/readyz did not answer 200 within 60 s"
say "ready at $url"

token=$(node --input-type=module -e '
  import { SignJWT } from "jose";
  const key = new TextEncoder().encode(process.env.AUTH_HMAC_SECRET);
  const jwt = await new SignJWT({ roles: ["admin"] }).setProtectedHeader({ alg: "HS256" }).setSubject("smoke-admin")
    .setIssuer(process.env.AUTH_ISSUER).setAudience(process.env.AUTH_AUDIENCE).setIssuedAt().setExpirationTime("5m").sign(key);
  console.log(jwt);')
answer=$(curl -s -D "$work/headers" "$url" -H 'content-type: application/json' -H "authorization: Bearer $token" \
  -d '{"query":"{ me { subject roles } patients(first: 1) { totalCount } }"}')
[ "$answer" = '{"data":{"me":{"subject":"smoke-admin","roles":["admin"]},"patients":{"totalCount":0}}}' ] || die "unexpected answer: $answer"
grep -qi '^cache-control: no-store' "$work/headers" || die "no Cache-Control: no-store on a GraphQL answer"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/metrics")" = 401 ] || die "/metrics answered without the token"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $METRICS_TOKEN" "$base/metrics")" = 200 ] || die "/metrics refused its token"
say "authenticated query answered; /metrics asks for its token"

say "SIGTERM"
kill -TERM "$server"
status=0
for _ in $(seq 1 80); do kill -0 "$server" 2>/dev/null || break; sleep 0.25; done
kill -0 "$server" 2>/dev/null && die "still running 20 s after SIGTERM"
wait "$server" || status=$?
server=
[ "$status" = 0 ] || die "exit status $status after SIGTERM"
grep -q '"msg":"shutting down"' "$work/server.log" || die "no graceful shutdown in the log"
[ -s "$work/witness/audit-checkpoints.log" ] || die "no audit checkpoint in the witness file"
say "stopped gracefully, audit checkpoints witnessed outside the database; passed"
