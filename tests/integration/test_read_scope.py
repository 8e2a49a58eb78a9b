"""A read scope leaves nothing behind on its connection: the next session there is a whole transaction again
(on PostgreSQL the scope runs in autocommit, and a connection left so would commit each statement at once)."""

import pytest
import sqlalchemy as sa

from lac_service.auth.models import Organisation
from lac_service.auth.service import create_organisation
from lac_service.db import create_db_engine, create_session_factory, read_scope, session_scope
from tests.conftest import NOW


def test_the_session_after_a_read_scope_on_its_connection_still_rolls_back_as_a_whole(committed_url):
    engine = create_db_engine(committed_url)
    factory = create_session_factory(engine)
    count = sa.select(sa.func.count()).select_from(Organisation)
    with read_scope(factory) as session:
        assert session.scalar(count) == 0
        used = session.connection().connection.dbapi_connection
    with pytest.raises(RuntimeError), session_scope(factory) as session:
        assert session.connection().connection.dbapi_connection is used, "the same pooled connection"
        create_organisation(session, slug="cpts-x", name="X", now=NOW)
        session.flush()
        raise RuntimeError("a later step of the same unit of work fails")
    with read_scope(factory) as session:
        assert session.scalar(count) == 0, "the first organisation went with its failed transaction"
    engine.dispose()
