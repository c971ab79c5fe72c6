# syntax=docker/dockerfile:1
# decypharr: the gateway, its FUSE mount and the web UI in one image.
# Build:  docker build -t decypharr .      Run: see docker-compose.yml and docs/docker.md.

# ---------------------------------------------------------------- wheel
# The project is built into a wheel here (what `pip wheel --no-deps .` makes, which
# tests/integration/test_docker_files.py checks), so no source tree ends up in the image.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY api ./api
COPY fs ./fs
COPY gateway ./gateway
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# ---------------------------------------------------------------- image
FROM python:3.11-slim-bookworm

# fuse3 gives libfuse3 (used by mfusepy) and fusermount3 for the FUSE mount (mount.type "fuse").
# user_allow_other lets the non-root user mount with allow_other, so Sonarr, Radarr and Plex,
# running as other users in other containers, can read the mount.
# DL3008 (pin apt versions) is ignored on purpose: Debian replaces a version when it ships a
# security fix and drops the old one, so a pin would break the build rather than make it repeatable.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends fuse3 \
    && rm -rf /var/lib/apt/lists/* \
    && sed -i 's/^#[[:space:]]*user_allow_other/user_allow_other/' /etc/fuse.conf \
    && (grep -q '^user_allow_other' /etc/fuse.conf || echo 'user_allow_other' >> /etc/fuse.conf)

# The wheel and its pinned-by-range dependencies from pyproject.toml; nothing cached.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir /wheels/*.whl

# A non-root user by default (uid/gid 1000, the usual first user of the host, so files it
# writes under /config and /data belong to that user). /config holds config.json, the
# database, logs and the chunk cache; /mnt/decypharr is where the FUSE mount goes; /data
# holds download_folder (the symlinks the *arrs import).
RUN groupadd --gid 1000 decypharr \
    && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /config --shell /usr/sbin/nologin decypharr \
    && mkdir -p /config /mnt/decypharr /data \
    && chown decypharr:decypharr /config /mnt/decypharr /data

# DECYPHARR_CONFIG_DIR is where config.json is read (created with defaults on the first start).
# MALLOC_ARENA_MAX caps glibc's per-thread memory pools (as scripts/run does): the server's
# worker threads buffer large WebDAV answers, and without a cap the resident size only grows.
ENV DECYPHARR_CONFIG_DIR=/config \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MALLOC_ARENA_MAX=2

# The decypharr user (1000:1000), by number: a host (or Kubernetes runAsNonRoot) can tell it is not root without the image's passwd.
USER 1000:1000
WORKDIR /config
VOLUME /config
EXPOSE 8282

# slim has no curl: Python asks /health, which answers from memory at once (no provider call).
# With a url_base other than "/", /health moves under it: override this in compose.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8282/health', timeout=5)"]

ENTRYPOINT ["decypharr"]
CMD ["--config", "/config"]
