# syntax=docker/dockerfile:1
# controlcenter: ingest, API and the simulators in one image.
#
#   docker build -t controlcenter .
#   docker run --rm controlcenter --version
#   docker run ... controlcenter                 # = controlcenter serve (ingest + API on :8000)
#   docker run ... controlcenter migrate
#   docker run ... --entrypoint controlcenter-sim controlcenter run --url mqtt://...
#
# Needs BuildKit (the default builder since Docker 23) for the bind mount below.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: the project's wheel and wheels of all its dependencies ---------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY migrations ./migrations
COPY simulators ./simulators
COPY src ./src
# The wheel carries the migrations (as controlcenter/_migrations) and the simulators.
RUN pip wheel --wheel-dir /wheels . \
 && python -c "import pathlib,sys,zipfile; w=next(pathlib.Path('/wheels').glob('controlcenter-*.whl')); n=zipfile.ZipFile(w).namelist(); sys.exit(0 if 'controlcenter/_migrations/env.py' in n else 'migrations missing from the wheel')"

# --- runtime: the wheels installed, no compiler, no sources, not root ------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels controlcenter \
 && groupadd --system --gid 10001 controlcenter \
 && useradd --system --uid 10001 --gid controlcenter --no-log-init \
        --home-dir /var/lib/controlcenter --create-home --shell /usr/sbin/nologin controlcenter

# Production defaults; everything else comes from CC_* variables (see the README).
# CC_ENV=prod: JSON logs, placeholder secrets refused. The API listens on all interfaces
# of the container; publish its port only where operators can reach it.
ENV CC_ENV=prod \
    CC_API__HOST=0.0.0.0 \
    CC_API__PORT=8000 \
    CC_DATA_DIR=/var/lib/controlcenter

USER controlcenter:controlcenter
WORKDIR /var/lib/controlcenter
EXPOSE 8000

# Liveness through the API's /health (no key needed). An image run as `migrate` or as the
# simulators has no API: their compose services disable this check.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('CC_API__PORT', '8000') + '/health', timeout=4)"]

# SIGTERM: stop intake, commit, acknowledge, disconnect (within CC_INGEST__SHUTDOWN_TIMEOUT_S).
STOPSIGNAL SIGTERM
ENTRYPOINT ["controlcenter"]
CMD ["serve"]
