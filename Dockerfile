# syntax=docker/dockerfile:1
# Tollgate: multi-stage build on the current Node.js LTS, running as a non-root user.
# Build:  docker build -t tollgate .
# Run:    see docs/deploying.md (`docker run` with volumes, compose.yaml with PostgreSQL and Redis).
# test/flows/container.test.ts replays this file (its COPY set and RUN steps,
# stage by stage) and starts the result: keep to COPY, RUN, ENV, ARG,
# WORKDIR, USER, VOLUME, EXPOSE, HEALTHCHECK and an exec-form CMD.
ARG NODE_VERSION=26

# 1. Everything, with dev dependencies: compiles the server, the CLI and the
#    resource-server toolkit to dist/, and makes the embedded database's
#    template (dist/embedded-database).
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
# Scripts are run below, once the sources are in: `prepare` builds from server/.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY server ./server
RUN npm run --silent build

# 2. Production dependencies only: no Prisma, no TypeScript (the server sends
#    SQL straight to the driver), and no install scripts are needed.
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
COPY prisma/migrations ./prisma/migrations
COPY views ./views
# The image's `node` user (uid 1000) owns only the two writable directories, and they are its alone.
RUN mkdir -p /app/data /app/keys && chown node:node /app/data /app/keys && chmod 700 /app/data /app/keys
USER node
VOLUME ["/app/data", "/app/keys"]
EXPOSE 3000
# /healthz lives under ISSUER's path, when it has one.
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s \
  CMD ["node", "-e", "const p=new URL(process.env.ISSUER||'http://x').pathname.replace(/\\/$/,'');fetch('http://127.0.0.1:'+(process.env.PORT||3000)+p+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The server alone: it applies pending migrations itself before it serves
# (serialised across instances by PostgreSQL's advisory lock, as Prisma's
# own), and node as PID 1 gets SIGTERM directly for a clean shutdown.
CMD ["node", "dist/server/main.js"]
