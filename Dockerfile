# The stand-in image: one container per docker group runs
#   python3 -m aisys_verify.standin run --spec /spec/aisys-spec.yaml --host H --group G
# (compose/mainpc.yml, compose/pc2.yml). Build it with scripts/build-images, or by hand:
#
#   DOCKER_BUILDKIT=1 docker build -t aisys-verify/standin:latest .                      # python:3.11-slim
#   DOCKER_BUILDKIT=1 docker build --build-arg BASE_IMAGE=aisys-verify/base:bookworm \
#       --secret id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt -t aisys-verify/standin:latest .
#
# BASE_IMAGE: any image with python3 >= 3.11 and its venv module: python:3.11-slim where a registry
# can be reached, else the local aisys-verify/base:bookworm that scripts/build-images makes with no
# registry. ca_bundle (optional BuildKit secret): a PEM bundle pip must trust, for networks whose
# HTTPS goes through a TLS-intercepting proxy (a corporate CA); it is used for the pip step only and
# never stored in a layer. PIP_INDEX_URL (optional build arg): a package index mirror.
# No "# syntax=" line on purpose: that would pull a frontend image from a registry.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ARG PIP_INDEX_URL=
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# Runtime dependencies only (pyproject's [project].dependencies), pinned by the lock file; this
# layer is rebuilt only when those two files change.
COPY pyproject.toml requirements/lock.txt /tmp/aisys-req/
RUN --mount=type=secret,id=ca_bundle,required=false \
    set -eu; \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi; \
    if [ -n "$PIP_INDEX_URL" ]; then export PIP_INDEX_URL; else unset PIP_INDEX_URL; fi; \
    python3 -m venv /opt/aisys; \
    python3 -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/aisys-req/pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/aisys-req/runtime.txt; \
    /opt/aisys/bin/pip install --quiet -c /tmp/aisys-req/lock.txt -r /tmp/aisys-req/runtime.txt; \
    rm -rf /tmp/aisys-req

# Not root (aisys-verify lint HRD005, security/hardening.dockerfile_issue): uid/gid 10001, which owns only
# the folders a stand-in writes (its logs, data and traces; the compose backend makes the bind-mounted
# log and trace folders writable for it).
RUN set -eu; \
    groupadd --system --gid 10001 aisys; \
    useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin aisys; \
    mkdir -p /var/log/aisys /var/lib/aisys /var/log/aisys-traces; \
    chown aisys:aisys /var/log/aisys /var/lib/aisys /var/log/aisys-traces

COPY aisys_verify /app/aisys_verify
ENV PATH=/opt/aisys/bin:$PATH \
    PYTHONPATH=/app
WORKDIR /app
RUN python3 -c "import aisys_verify.standin.group, zmq, redis, yaml, opentelemetry.sdk"
# the working folder is the user's own: with no --plan (spec images: env-only configuration) a stand-in
# writes its logs under ./.aisys, and /app stays read-only to it
WORKDIR /var/lib/aisys
USER 10001:10001
CMD ["python3", "-m", "aisys_verify.standin", "--help"]
