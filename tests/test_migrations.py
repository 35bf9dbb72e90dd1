"""The Alembic migrations create the schema the code expects."""

from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from contextdesk.db import head_revisions, is_up_to_date
from contextdesk.models_registry import metadata


def test_migrations_create_every_table(engine: Engine) -> None:
    assert is_up_to_date(engine)
    assert head_revisions()
    tables = set(inspect(engine).get_table_names())
    assert set(metadata.tables) <= tables


def test_heads_read_from_the_files_match_alembic() -> None:
    """The CLI's start-up check reads head revisions without Alembic; it must agree with Alembic."""
    from contextdesk.db import declared_head_revisions, head_revisions

    assert declared_head_revisions() == head_revisions()
