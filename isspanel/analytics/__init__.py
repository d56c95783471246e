"""The Flink side: SQL loading, jobs, REST.

`sql` splits flink/*.sql into statements (sqlparse) and points them at the ISS_* settings;
`environment` says where the cluster is and creates a TableEnvironment on it. The jobs, their
check and `isspanel flink run|list|cancel` are in runner.py and run.py.
"""

from isspanel.analytics.environment import create_table_env, rest_address, web_url
from isspanel.analytics.sql import SQL_DIR, load_sql, split_statements, sql_files, statement_kind

__all__ = [
    "SQL_DIR",
    "create_table_env",
    "load_sql",
    "rest_address",
    "split_statements",
    "sql_files",
    "statement_kind",
    "web_url",
]
