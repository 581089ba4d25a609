# The gateway image compose.yaml builds. No container engine runs on the dev machines, so this
# file is not exercised by the test suite.
FROM python:3.12-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY policies ./policies
RUN pip install --no-cache-dir . && useradd --system gateway
USER gateway
ENV GATEWAY_HOST=0.0.0.0 GATEWAY_POLICY_DIR=/app/policies
EXPOSE 8080
CMD ["gateway", "serve"]
