# blobstore API and relay image.
#
#   docker build -t blobstore .
#   docker run -p 127.0.0.1:8000:8000 -v blobstore-files:/data/files blobstore
#
# Without DATABASE_URL the index is an SQLite file in /data, outside the
# volume, which is only fit for a trial; docker-compose.yml and deploy/k8s/
# run it with PostgreSQL.

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# Dependencies get their own layer, rebuilt only when pyproject.toml changes:
# the list is read from pyproject.toml, before any source is copied.
WORKDIR /src
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

COPY README.md alembic.ini ./
COPY migrations ./migrations
COPY blobstore ./blobstore
RUN pip install --no-deps .


FROM python:3.11-slim

# A fixed numeric id, so Kubernetes can check runAsNonRoot and volumes can be
# prepared for it (fsGroup).
ARG APP_UID=10001

RUN groupadd --system --gid "${APP_UID}" blobstore \
    && useradd --system --uid "${APP_UID}" --gid blobstore --home-dir /nonexistent \
        --shell /usr/sbin/nologin blobstore \
    && mkdir -p /data/files \
    && chown -R blobstore:blobstore /data

COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FILE_BASE_PATH=/data/files \
    LOG_FORMAT=json

# A named volume starts as a copy of this directory, owned by blobstore.
VOLUME ["/data/files"]

USER blobstore:blobstore
WORKDIR /data
EXPOSE 8000

# The slim image has no curl; Python's standard library makes the request.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/livez', timeout=4).status == 200 else 1)"]

# 0.0.0.0 here is the container's own network interface, which the port
# mapping or the Kubernetes Service reaches; outside a container blobstore
# binds to 127.0.0.1 unless told otherwise.
CMD ["blobstore", "serve", "--host", "0.0.0.0", "--port", "8000"]
