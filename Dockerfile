# clinigraph: a production image in two stages.
#   docker build -t clinigraph .
#   docker compose up        (PostgreSQL, Redis, the migration step, then the server; see docker-compose.yml)
# scripts/production-smoke.sh performs the runtime stage's steps outside Docker in CI.

# --- Build: every dependency, code generation and any front-end build ----------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY . .
# npm ci runs postinstall, which generates src/generated/ (Prisma client, resolver types).
RUN npm ci
# Front-end assets (the web console) are built here, where the dev dependencies are,
# by the `build` script when the project defines one; its output lands in the tree.
RUN npm run build --if-present
# Only the application's files go on: the runtime stage installs its own dependencies.
RUN rm -rf node_modules .cache data

# --- Runtime: production dependencies only, as an unprivileged user -----------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    CLINIGRAPH_MODE=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    DATA_DIR=/var/lib/clinigraph \
    MIGRATE_ON_START=false
WORKDIR /app
COPY --from=build /app ./
# postinstall finds no generators here and keeps the src/generated/ the build stage made.
RUN npm ci --omit=dev && npm cache clean --force \
 && mkdir -p "$DATA_DIR" && chown node:node "$DATA_DIR"
USER node
EXPOSE 4000
# Liveness: the process answers. Route traffic on /readyz (database, migrations, models warm).
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
# The deploy step before a new version serves: `docker compose run --rm migrate`, or
# `docker run ... clinigraph npm run db:migrate` (MIGRATE_ON_START is off in this image).
# bin/clinigraph execs Node, so `docker stop` (SIGTERM) is a graceful shutdown.
CMD ["/app/bin/clinigraph"]
