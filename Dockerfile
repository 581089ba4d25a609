# The gateway image compose.yaml builds (docs/deployment.md). Built and run in CI:
# scripts/compose-smoke builds it with podman on a Debian base made with debootstrap
# (BASE_IMAGE=localhost/debian-base:bookworm), brings compose.yaml up and smoke-tests it.
# BASE_IMAGE is any Debian/Ubuntu-based image: one with Python 3.11+ (the default,
# python:3.12-slim) is used as it is; a bare one gets Debian's python3 and python3-venv.
# Everything is installed at build time; nothing is fetched when the container runs.
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}
# Builds behind a TLS-intercepting proxy: a CA bundle for pip, mounted at build time (CI mounts
# its host's bundle, scripts/compose-smoke). Unset by default: pip's own CA list is used.
ARG PIP_CERT
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/gateway/bin:$PATH
# libatomic1: regopy's native library needs it (the slim images lack it too).
RUN packages=libatomic1 \
    && if ! command -v python3 >/dev/null; then packages="$packages python3 python3-venv"; fi \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $packages \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/gateway \
    && useradd --system --no-create-home --uid 10001 gateway
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY policies ./policies
RUN pip install --no-cache-dir . && rm -rf build ./*.egg-info
USER gateway
# The baked-in policies serve when no GATEWAY_POLICY_DIR is mounted (compose mounts ./policies).
ENV GATEWAY_HOST=0.0.0.0 GATEWAY_PORT=8080 GATEWAY_POLICY_DIR=/app/policies
EXPOSE 8080
# /readyz answers 503 unless every backend answers; urlopen raises on it. No curl in the image.
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=3)"]
CMD ["gateway", "serve"]
