"""One local SparkSession for every Spark test of a worker: the JVM takes seconds to start."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from c360.spark_engine import spark_session

    session = spark_session("c360-tests", {
        "spark.sql.warehouse.dir": str(tmp_path_factory.mktemp("spark_warehouse")),
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "2",  # the default 200 costs seconds per query on test-sized data
        "spark.driver.memory": "1g",
    })
    yield session
    session.stop()
