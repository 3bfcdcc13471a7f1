# The attestor image: one image for `attestor operator` and `attestor agent`.
# Build: docker build -t attestor . (not built in this repository's CI: it has no Docker engine).
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY crds ./crds
COPY samples ./samples
# The agent loads libnvidia-ml.so.1 from the host's driver (mounted by the NVIDIA container toolkit).
USER 65532:65532
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
