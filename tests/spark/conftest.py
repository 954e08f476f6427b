"""One local SparkSession for every Spark test of a worker: the JVM takes seconds to start."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    from c360.spark_engine import spark_session

    session = spark_session("c360-tests", {
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "2",  # the default 200 costs seconds per query on test-sized data
        "spark.driver.memory": "1g",
    })
    yield session
    session.stop()
