# syntax=docker/dockerfile:1
# One image for every layercake service; each Deployment picks its process with
# `python -m services.<name>` (gateway, identity, orchestrator, decision).
# Generated protobuf code under layercake/ is committed, so no protoc step here.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/layercake
WORKDIR /src
COPY pyproject.toml README.md ./
COPY layercake ./layercake
COPY services ./services
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/layercake/bin/pip install .

FROM python:3.11-slim
LABEL org.opencontainers.image.title="layercake" \
      org.opencontainers.image.description="layercake services: gateway, identity, orchestrator, decision" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 layercake \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin layercake
COPY --from=build /opt/layercake /opt/layercake
# The root filesystem is read-only in Kubernetes: nothing writes bytecode, and the
# only local state (SQLite files when no database URL is given) goes under /tmp.
ENV PATH=/opt/layercake/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LAYERCAKE_STATE_DIR=/tmp/layercake
# Not a directory holding source: `python -m` puts the working directory on sys.path.
WORKDIR /opt/layercake
# Numeric, so the kubelet can check runAsNonRoot without reading /etc/passwd.
USER 10001:10001
EXPOSE 50051 50052 50053 50054 9101 9102 9103 9104
# Each Deployment sets its own command; the public edge is the default.
CMD ["python", "-m", "services.gateway"]
