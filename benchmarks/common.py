"""What the database benchmarks share: a fresh PostgreSQL database on the server ``make bench`` starts."""

import sqlalchemy as sa
from sqlalchemy.engine import make_url


def fresh_database(server_url: str, name: str) -> str:
    admin = sa.create_engine(make_url(server_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)
