"""The Spark a local run starts, and the Delta settings every writer gets (local, Glue, EMR Serverless).

`config` builds the local session's settings; `jars` caches Delta's and S3A's jars at set-up;
`class_archive` builds the JVM's class-data archive at set-up; `delta_conf` holds Delta's settings
(the DynamoDB log store on S3), read by the local session, the remote jobs' parameters and `lakehouse
deploy`; `dynamodb_endpoint` points the log store at a local endpoint (moto) when one is set.
"""
