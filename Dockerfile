# syntax=docker/dockerfile:1
# The image runs the same .ts files as `npm start` does locally: Node 24 strips types, no build step.

FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only; the node@24 devDependency is not needed (the image is Node 24).
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:24-slim AS runtime
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
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.HEALTH_PORT || 8080) + '/readyz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
# `node` directly (not npm) so SIGTERM reaches the worker and graceful shutdown runs.
CMD ["node", "src/main.ts", "worker"]
