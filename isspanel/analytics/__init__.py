"""The Flink side: the SQL jobs of flink/*.sql, run with PyFlink.

    sql          flink/*.sql split into statements (sqlparse), pointed at the ISS_* settings
    environment  where the cluster is, a TableEnvironment on it, the gateway JVM under PyFlink
    jobs         the jobs (speed, stats, crossings): put together, submitted, watched
    savepoints   where a run keeps its checkpoints and savepoints, and which one it resumes
    cluster      a cluster's jobs from outside (REST): list, cancel, stop; the local run

The commands (`isspanel flink run|list|cancel`) and their exit codes are in isspanel.cli.
"""
