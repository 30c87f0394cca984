from lakehouse_assets.spark.config import LOG_CONFIG, local_spark_conf


def test_the_local_driver_logs_warnings_without_the_start_up_notes() -> None:
    options = local_spark_conf(cores=2)["spark.driver.extraJavaOptions"].split()
    assert options[0] == f"-Dlog4j2.configurationFile=file:{LOG_CONFIG}"
    settings = dict(
        line.split(" = ", 1) for line in LOG_CONFIG.read_text().splitlines() if line and not line.startswith("#")
    )
    assert settings["rootLogger.level"] == "warn"
    loggers = [key.removesuffix(".name") for key in settings if key.startswith("logger.") and key.endswith(".name")]
    assert {settings[f"{logger}.name"]: settings[f"{logger}.level"] for logger in loggers} == {
        "org.apache.spark.util.Utils": "error",  # "Your hostname ... resolves to a loopback address"
        "org.apache.hadoop.util.NativeCodeLoader": "error",  # "Unable to load native-hadoop library"
        "org.apache.spark.sql.catalyst.util.SparkStringUtils": "error",  # "Truncated the string representation"
        "org.apache.hadoop.metrics2.impl.MetricsConfig": "error",  # "Cannot locate configuration" (S3 roots)
        "org.apache.hadoop.fs.s3a.S3AInstrumentation": "error",  # "Closing output stream statistics while ..."
        "com.amazonaws.http.AmazonHttpClient": "error",  # "SSL Certificate checking ... disabled" (local DynamoDB)
    }
