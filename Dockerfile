# syntax=docker/dockerfile:1
# Tollgate: multi-stage build on the current Node.js LTS, running as a non-root user.
# Build:  docker build -t tollgate .
# Run:    docker run -p 3000:3000 -e NODE_ENV=production -e ISSUER=https://id.example.com \
#           -e COOKIE_SECRETS=… -e DATABASE_URL=postgresql://… -v tollgate-keys:/app/keys tollgate
ARG NODE_VERSION=26

# 1. Everything, with dev dependencies: generates the Prisma client, compiles the
#    server, the CLI and the resource-server toolkit to dist/, and makes the
#    embedded database's template (dist/embedded-database).
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json prisma.config.ts tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY prisma ./prisma
# Scripts are run below, once the sources are in: `prepare` builds from server/.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY server ./server
RUN npm run --silent generate && npm run --silent build

# 2. Production dependencies only; no install scripts are needed at run time.
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# 3. The runtime image: compiled JavaScript, no TypeScript loader. views/ and
#    prisma/migrations/ are read at run time beside dist/ (server/paths.ts).
FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production \
    PORT=3000 \
    DATA_DIR=/app/data \
    KEYS_DIR=/app/keys
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY prisma ./prisma
COPY views ./views
# The image's `node` user (uid 1000) owns only the two writable directories.
RUN mkdir -p /app/data /app/keys && chown node:node /app/data /app/keys && chmod 700 /app/keys
USER node
VOLUME ["/app/data", "/app/keys"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Migrations first (serialised across instances by an advisory lock), then the server.
# The CLI's flag as in `npm run tollgate`: a one-shot command skips V8's optimising WebAssembly tier.
# `exec` makes node PID 1 in place of the shell, so SIGTERM reaches its handler for a clean shutdown.
CMD ["sh", "-c", "node --liftoff-only dist/server/cli/main.js migrate >/dev/null && exec node dist/server/main.js"]
