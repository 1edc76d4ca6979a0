# syntax=docker/dockerfile:1
# Build stage: wheels for smsync and its dependencies, no compilers in the final image.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY connector ./connector
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Runtime stage: non-root, read-only root filesystem friendly (state lives in /data).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SMSYNC_DATABASE_URL=sqlite:////data/smsync.db \
    SMSYNC_HTTP_HOST=0.0.0.0 \
    SMSYNC_HTTP_PORT=8080 \
    SMSYNC_MAPPINGS=/app/mappings/salesforce.yaml
RUN groupadd --system smsync && useradd --system --gid smsync --home-dir /data smsync \
    && mkdir -p /data /app && chown smsync:smsync /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY mappings /app/mappings
USER smsync
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"
ENTRYPOINT ["smsync"]
CMD ["run"]
