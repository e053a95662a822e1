# The Medivoy image: one image for the API (`medivoy api`, the default command), the worker
# (`medivoy worker`) and the one-shot jobs (`medivoy migrate`, `medivoy temporal
# register-search-attributes`). Dependencies come from uv.lock exactly (`uv sync --frozen`).
ARG PYTHON_IMAGE=python:3.13-slim-trixie

FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.9
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /app
# The locked dependencies first (a layer that changes only with uv.lock), then the code.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
RUN uv sync --frozen --no-dev

FROM ${PYTHON_IMAGE}
# WeasyPrint (invoice PDFs) needs Pango and HarfBuzz; the fonts ship in activities/fonts.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 medivoy \
    && useradd --system --uid 10001 --gid medivoy --home-dir /home/medivoy --create-home medivoy \
    && install -d -o medivoy -g medivoy /data/files
WORKDIR /app
# Owned by root, read-only to the service user: the running code cannot rewrite itself.
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MEDIVOY_ENV=production \
    MEDIVOY_API_HOST=0.0.0.0 \
    MEDIVOY_API_PORT=8000 \
    MEDIVOY_METRICS_HOST=0.0.0.0 \
    MEDIVOY_DATA_DIR=/home/medivoy/data \
    MEDIVOY_STORAGE_DIR=/data/files
USER medivoy
EXPOSE 8000 9464 9465
VOLUME ["/data/files"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["medivoy", "probe"]
CMD ["medivoy", "api"]
