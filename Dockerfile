# syntax=docker/dockerfile:1
# outagemon: asyncio monitor of exchanges, RPC providers and status pages.
#   docker build -t outagemon .
#   docker run -p 9717:9717 -v outagemon-state:/var/lib/outagemon outagemon
# Mount your own config over /etc/outagemon/config.yaml (or set OUTAGEMON_CONFIG); arguments
# after the image name replace CMD and go to `outagemon run` (e.g. `--shard 0/3`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OUTAGEMON_CONFIG=/etc/outagemon/config.yaml

RUN groupadd --system --gid 10001 outagemon \
 && useradd --system --uid 10001 --gid outagemon --home-dir /var/lib/outagemon \
      --no-create-home --shell /usr/sbin/nologin outagemon \
 && mkdir -p /var/lib/outagemon /etc/outagemon \
 && chown outagemon:outagemon /var/lib/outagemon

WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY checks ./checks
RUN pip install --no-cache-dir . \
 && rm -rf /src

COPY config/default.yaml /etc/outagemon/config.yaml

# The default --state (./outagemon.db) lands in the volume even when CMD is overridden.
WORKDIR /var/lib/outagemon
VOLUME ["/var/lib/outagemon"]
USER 10001:10001
EXPOSE 9717

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9717/livez', timeout=3)"]

ENTRYPOINT ["outagemon", "run"]
CMD ["--listen", "0.0.0.0:9717", "--state", "/var/lib/outagemon/outagemon.db"]
