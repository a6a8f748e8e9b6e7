# CamPy's image (compose.yaml builds it; go2rtc runs as its own container).
# Everything comes from a fresh clone: htmx is fetched from npm in a build stage at the
# version and sha256 the Makefile pins (keep HTMX_VERSION/HTMX_SHA256 in step with it).

FROM node:22-bookworm-slim AS htmx
ARG HTMX_VERSION=2.0.11
ARG HTMX_SHA256=d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717
WORKDIR /build
RUN npm pack -q htmx.org@${HTMX_VERSION} \
 && tar -xzf htmx.org-${HTMX_VERSION}.tgz package/dist/htmx.min.js \
 && echo "${HTMX_SHA256}  package/dist/htmx.min.js" | sha256sum -c --quiet \
 && mkdir -p /out && cp package/dist/htmx.min.js /out/htmx.min.js

FROM python:3.11-slim-bookworm
# ffmpeg: recorders, detection frames, exports.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
# The package, with what ships inside it. The default detector model goes in the package
# too (campy/models/, with its licence and provenance), so this COPY carries it.
COPY campy ./campy
COPY templates ./templates
COPY static ./static
COPY --from=htmx /out/htmx.min.js ./static/vendor/htmx.min.js
# Editable: CamPy finds templates/ and static/ beside the package.
RUN pip install --no-cache-dir -e .
# The container's config may have no cameras: CamPy then starts with none ("add one"),
# never with simulated cameras.
ENV CAMPY_NO_DEMO=1
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=6s --start-period=30s --retries=3 \
  CMD ["campy", "healthcheck", "--port", "8080"]
CMD ["campy", "serve", "--config", "/config/campy.yaml", "--host", "0.0.0.0", "--port", "8080", "--no-demo"]
