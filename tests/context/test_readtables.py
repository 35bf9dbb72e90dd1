"""context/readtables.py is the current output of its generator, and its Core copies read as the SQLModel tables."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.sql.sqltypes import AutoString

from context import readtables
from context.canonical.models import RECORD_FIELDS
from context.readtables_gen import OUT, _models, render


def test_the_generated_file_is_up_to_date() -> None:
    # A model changed without regenerating: run `python -m context.readtables_gen`.
    assert OUT.read_text(encoding="utf-8") == render()
    assert readtables.RECORD_FIELDS == RECORD_FIELDS


def test_each_copy_has_the_columns_and_types_of_its_model() -> None:
    for name, model_table in _models().items():
        copy = getattr(readtables, name)
        assert copy.name == model_table.name
        assert [c.name for c in copy.columns] == [c.name for c in model_table.columns], name
        for column in model_table.columns:
            twin = copy.c[column.name]
            where = (name, column.name)
            # What a SELECT returns goes through the type: the same class (UTC datetimes, JSON, Decimal) or, for
            # sqlmodel's AutoString, the String it stands for; the same SQL type and variants on both dialects.
            expected = String if isinstance(column.type, AutoString) else type(column.type)
            assert type(twin.type) is expected, where
            for dialect in (sqlite.dialect(), postgresql.dialect()):
                assert twin.type.compile(dialect) == column.type.compile(dialect), (*where, dialect.name)
            variants = getattr(column.type, "_variant_mapping", {})
            assert getattr(twin.type, "_variant_mapping", {}).keys() == variants.keys(), where
            assert (twin.primary_key, twin.nullable) == (column.primary_key, column.nullable), where
            assert {fk.target_fullname for fk in twin.foreign_keys} <= {
                fk.target_fullname for fk in column.foreign_keys
            }, where
