# The image runs the same .ts files as `npm start` does locally: Node 24 strips types, no build step.
#
# The base is pinned to an exact Node release on a named Debian release, so a rebuild next month
# gets the same Node and the same distribution. Where a registry is reachable, pin the digest too
# (`docker buildx imagetools inspect node:24.21.0-bookworm-slim` prints it):
#   FROM node:24.21.0-bookworm-slim@sha256:<digest>
# Without a registry, scripts/build-base-images.sh builds this exact tag locally from Debian and npm.
# (No `# syntax=` line: it makes BuildKit fetch a frontend image from Docker Hub for no feature used.)

FROM node:24.21.0-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only. typescript is our devDependency and also an optional peer of
# valibot (via @bull-board/api), so npm marks it devOptional and --omit=dev keeps its 23 MB:
# remove it. Nothing at runtime imports it (Node strips types itself). This stage is discarded,
# so no cache cleaning is needed.
RUN npm ci --omit=dev --no-audit --no-fund && rm -rf node_modules/typescript

FROM node:24.21.0-bookworm-slim AS runtime
# A bounded heap: V8 otherwise grows a busy worker's heap toward GBs before collecting.
# 384 MiB fits four concurrent 15 MiB feeds; override with NODE_OPTIONS.
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-old-space-size=384 \
    SOURCES_FILE=/app/config/sources.json \
    HEALTH_PORT=8080 \
    BOARD_PORT=3000
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json mikro-orm.config.ts ./
COPY src ./src
COPY migrations ./migrations
COPY config ./config
USER node
EXPOSE 8080 3000
# No image-wide HEALTHCHECK: the same image runs the worker, the board, the one-shot migrate and
# CLI commands, and only the worker serves /readyz. Each compose service declares its own.
# `node` directly (not npm) so node is PID 1 and SIGTERM reaches it: graceful shutdown runs.
CMD ["node", "src/main.ts", "worker"]
