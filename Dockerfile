# User-code image for the taxi_pipeline code location (a first version; the deployment
# work adds the compose stack, the production instance and a pinned lock file).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/taxi_pipeline
COPY pyproject.toml README.md ./
COPY taxi_pipeline ./taxi_pipeline
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 dagster

USER dagster
ENV TAXI_DATA_DIR=/home/dagster/taxi_data
EXPOSE 4000
HEALTHCHECK --interval=30s --timeout=10s CMD ["dagster", "api", "grpc-health-check", "-p", "4000"]
CMD ["dagster", "api", "grpc", "-m", "taxi_pipeline", "-h", "0.0.0.0", "-p", "4000"]
