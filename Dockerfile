# The nnfunc server image.
#
#   docker build -t nnfunc .                                   # base python:3.11-slim
#   docker build --build-arg BASE_IMAGE=localhost/pybase:bookworm -t nnfunc .
#   docker run --rm -p 127.0.0.1:50051:50051 nnfunc
#
# BASE_IMAGE is any image with Python 3.11+ and its venv module (the official
# python:3.11-slim, or Debian with python3-venv); both stages use it, so the virtual
# environment built in the first runs unchanged in the second.
# Dependencies come from the package index, or offline from deploy/wheelhouse when it
# holds wheels (python scripts/wheelhouse.py fills it on the host; see docs/deploy.md).
# The server reads NNFUNC_* variables (NNFUNC_PORT, NNFUNC_GRACE, ...: nnfunc serve --help).

ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
COPY deploy/wheelhouse/ /wheelhouse/
# Dependencies first, in their own layer: a change to the sources alone reuses it.
COPY pyproject.toml /src/
RUN set -eu; \
    offline=""; \
    if ls /wheelhouse/*.whl >/dev/null 2>&1; then offline="--no-index"; fi; \
    python3 -m venv /opt/nnfunc; \
    python3 -c 'import tomllib; print(*tomllib.load(open("/src/pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' \
        >/tmp/requirements.txt; \
    /opt/nnfunc/bin/pip install $offline --find-links /wheelhouse -r /tmp/requirements.txt
# The project's own wheel, built here from the sources; then pip and setuptools leave
# the environment, and so do the test suites that numpy and scipy ship.
COPY README.md /src/
COPY proto/ /src/proto/
COPY server/ /src/server/
COPY client/ /src/client/
RUN set -eu; \
    offline=""; \
    if ls /wheelhouse/*.whl >/dev/null 2>&1; then offline="--no-index"; fi; \
    /opt/nnfunc/bin/pip wheel $offline --find-links /wheelhouse --no-deps --wheel-dir /dist /src; \
    /opt/nnfunc/bin/pip install $offline --find-links /wheelhouse /dist/nnfunc-*.whl; \
    /opt/nnfunc/bin/pip uninstall --yes --quiet pip setuptools; \
    find /opt/nnfunc/lib -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} +; \
    /opt/nnfunc/bin/python -c "import nnfunc.server, nnfunc.catalog, scipy.special"

FROM ${BASE_IMAGE}
ENV PATH=/opt/nnfunc/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    NNFUNC_HOST=0.0.0.0 \
    NNFUNC_PORT=50051 \
    NUMBA_CACHE_DIR=/tmp/nnfunc-numba
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin nnfunc
COPY --from=build /opt/nnfunc /opt/nnfunc
USER 10001:10001
EXPOSE 50051
# grpc.health.v1.Health/Check through the project's own console script (no extra binary).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["nnfunc-health"]
# Exec form: the server is PID 1 and gets SIGTERM itself; it drains (health NOT_SERVING,
# new calls UNAVAILABLE, in-flight ones get NNFUNC_GRACE seconds) and exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["nnfunc", "serve"]
