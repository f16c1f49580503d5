# User-code image of the taxi_pipeline code location: a Dagster gRPC server on port 4000.
# The same image serves as the run worker (DockerRunLauncher / K8sRunLauncher start runs
# from it) and, in the compose stack, as dagster-webserver and dagster-daemon.
# The base is an argument so it can be swapped (a mirror, a hardened base, or the locally
# made Debian base scripts/build_image.sh uses where no registry is reachable).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# A venv: works on python:*-slim and on Debian's python3 (PEP 668 blocks system pip).
# Pinned dependencies first, in their own layer, so code changes rebuild in seconds.
# Behind a TLS-intercepting proxy, pass its CA bundle as a build secret (never a layer):
#   --secret id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt
COPY deploy/requirements.lock /tmp/requirements.lock
RUN --mount=type=secret,id=ca_bundle,required=false \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
    && python3 -m venv /opt/venv \
    && pip install --no-cache-dir -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock
# dbt for the models in a venv of its own, with the BigQuery and DuckDB adapters:
# dbt-bigquery pins google-cloud-storage below the pipeline's (docs/models.md).
COPY deploy/dbt-requirements.lock /tmp/dbt-requirements.lock
RUN --mount=type=secret,id=ca_bundle,required=false \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
    && python3 -m venv /opt/dbt \
    && /opt/dbt/bin/pip install --no-cache-dir -r /tmp/dbt-requirements.lock \
    && rm /tmp/dbt-requirements.lock
ENV TAXI_DBT_EXECUTABLE=/opt/dbt/bin/dbt

WORKDIR /opt/dagster/app
COPY pyproject.toml README.md ./
COPY taxi_pipeline ./taxi_pipeline
# Editable: the pipeline's location loads taxi_pipeline/defs/ through pyproject.toml's
# [tool.dg], found beside the package (the component tree walks up from taxi_pipeline/).
# The dbt project's manifest is made here (dbt deps from the local package + dbt parse, no
# network), and runs write their dbt artifacts under dbt_project/target as uid 10001.
RUN pip install --no-cache-dir --no-deps --no-build-isolation -e . \
    && python -c "from taxi_pipeline.models.transform import dbt_project; dbt_project()" \
    && useradd --create-home --uid 10001 --user-group dagster \
    && chown -R dagster:dagster taxi_pipeline/dbt_project \
    && mkdir -p /opt/dagster/dagster_home \
    && chown dagster:dagster /opt/dagster/dagster_home

USER 10001:10001
ENV DAGSTER_HOME=/opt/dagster/dagster_home \
    TAXI_DATA_DIR=/home/dagster/taxi_data
EXPOSE 4000
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s \
    CMD ["dagster", "api", "grpc-health-check", "-p", "4000"]
# The pipeline's location; the models' server runs `-m taxi_pipeline.models.definitions`.
CMD ["dagster", "api", "grpc", "-m", "taxi_pipeline.definitions", "-h", "0.0.0.0", "-p", "4000"]
