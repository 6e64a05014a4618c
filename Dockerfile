# Parley's image: slim, non-root, installed from the dependency lock (what CI tested is what runs).
#   docker build -t parley .
#   docker run --env-file .env -v parley-data:/data parley
# compose.yaml runs two shard processes with PostgreSQL and Redis.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/parley
WORKDIR /src
# The lock first: the dependencies' layer is rebuilt only when the lock changes.
COPY requirements/base.lock requirements/base.lock
RUN /opt/parley/bin/pip install --require-hashes -r requirements/base.lock
COPY pyproject.toml README.md ./
COPY bot bot
COPY cogs cogs
RUN /opt/parley/bin/pip install --no-deps .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --create-home --home-dir /home/parley parley \
    && mkdir /data && chown parley /data
COPY --from=build /opt/parley /opt/parley
ENV PATH=/opt/parley/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite+aiosqlite:////data/parley.db
WORKDIR /data
VOLUME /data
USER parley
# SIGTERM stops Parley gracefully: running debates get SHUTDOWN_GRACE_S (30 s by default) to finish.
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "bot"]
