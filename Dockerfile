# The gateway image compose.yaml builds (docs/deployment.md). Not built on the development
# machines (no container engine runs there): tests/unit/test_compose.py checks that every COPY
# source exists and is not excluded by .dockerignore.
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY policies ./policies
RUN pip install --no-cache-dir . \
    && rm -rf build ./*.egg-info \
    && useradd --system --no-create-home --uid 10001 gateway
USER gateway
# The baked-in policies serve when no GATEWAY_POLICY_DIR is mounted (compose mounts ./policies).
ENV GATEWAY_HOST=0.0.0.0 GATEWAY_PORT=8080 GATEWAY_POLICY_DIR=/app/policies
EXPOSE 8080
CMD ["gateway", "serve"]
