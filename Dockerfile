# Docker Watcher image: a build stage installs the pinned dependencies into a virtualenv; the
# small runtime stage copies it and runs as a non-root user (give it the Docker socket's group:
# see docker-compose.yml, group_add).
FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# requirements-runtime.lock: the runtime dependencies only, pinned to the same versions as
# requirements.lock (compiled with it as constraints).
COPY requirements-runtime.lock pyproject.toml README.md ./
RUN python -m venv /opt/venv && /opt/venv/bin/pip install -r requirements-runtime.lock
COPY app ./app
COPY services ./services
COPY pages ./pages
RUN /opt/venv/bin/pip install --no-deps .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin watcher \
 && mkdir -p /data /config && chown watcher /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    DW_HOST=0.0.0.0 \
    DW_PORT=8080 \
    DW_DATA_DIR=/data \
    DW_SEED_PATH=/config/seed.yaml \
    DW_IN_NETWORK=true \
    PYTHONUNBUFFERED=1
USER watcher
WORKDIR /data
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["docker-watcher"]
CMD ["run"]
