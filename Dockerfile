# syntax=docker/dockerfile:1
# Build: docker build -t lac-service .
# Migrate (a separate, one-off command): docker run --rm --env-file lac.env lac-service lac db upgrade
# Serve: docker run --env-file lac.env -p 8000:8000 lac-service

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build
COPY pyproject.toml ./
COPY src ./src
RUN pip install .

FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin lac
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY migrations ./migrations
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LAC_ENVIRONMENT=production \
    LAC_MIGRATIONS_DIR=/app/migrations \
    LAC_HOST=0.0.0.0 \
    LAC_PORT=8000
# The user created above, by number: an orchestrator's "run as non-root" check needs one.
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
CMD ["lac", "serve"]
