# One image for the controller and the agent. The builder stage bundles the TypeScript into dist/
# (scripts/build.ts, esbuild) and builds the native addon; the runtime stage runs the bundled
# JavaScript (no type stripping, no compiler). No Docker engine runs in this project's CI: the image is not built there, but every
# file it copies and every command it runs are what the set-up and the tests run.
#   docker build -t vipkeeper .
#   controller: vipkeeper controller ...   agent: vipkeeper agent --cluster --node $(NODE_NAME)

FROM node:24-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json binding.gyp ./
COPY scripts/build.ts scripts/
COPY native/ native/
COPY src/ src/
# `npm ci` builds the addon: package.json's install script points node-gyp at the running Node's
# own headers (/usr/local/include/node here), never a download. Then dist/, then production
# dependencies only.
RUN npm ci --no-audit --no-fund \
 && npm run build \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
# What the agent runs on the node: nft for the nftables dataplane, ip for diagnostics, bash for
# the admin-approved track and notify scripts (keepalived's are bash), procps for killall -0.
RUN apt-get update \
 && apt-get install -y --no-install-recommends nftables iproute2 bash procps psmisc \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/node_modules node_modules/
COPY --from=build /app/build/Release/vipkeeper_net.node build/Release/vipkeeper_net.node
COPY --from=build /app/dist dist/
COPY package.json ./
COPY bin/ bin/
COPY crds/ crds/
ENV NODE_ENV=production
# Root by default (the agent needs it, with NET_ADMIN and NET_RAW only); the controller's pod
# runs as 65532 through its securityContext.
ENTRYPOINT ["node", "/app/bin/vipkeeper.js"]
CMD ["--help"]
