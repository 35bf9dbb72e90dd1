"""The batch pipeline shared by file syncs and connector pulls: order, balancing and a failed write."""

from __future__ import annotations

from pathlib import Path

import pytest

from context.intake.batching import Batch, Pipeline, map_records
from context.intake.mapping import RecordMapper
from context.intake.rows import Prepared, layout_for
from tests.context.intake.factories import VALUE_MAPS, crm_row, crm_source, write_config


def plans(count: int, size: int) -> list[Batch]:
    out = []
    for b in range(count):
        ids = [str(b * size + i) for i in range(size)]
        rows = {
            rid: dict(crm_row(rid, email=f"p{rid}@example.com", phone="bad" if int(rid) % 5 == 0 else ""))
            for rid in ids
        }
        out.append(Batch({}, {}, ids, [], [], [(rid, rows[rid], []) for rid in ids]))
    return out


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_batches_are_written_in_order_with_the_rows_inline_mapping_gives(tmp_path: Path, workers: int) -> None:
    config = write_config(tmp_path, [crm_source()], value_maps=VALUE_MAPS)
    source = config.sources[0]
    mapper = RecordMapper(config, source)
    layout = layout_for("sqlite", source.entity)
    expected = [map_records(mapper, layout, plan.to_map)[0] for plan in plans(9, 5)]
    written: list[tuple[int, list[Prepared]]] = []

    def write(plan: Batch, n: int) -> None:
        if plan.future is not None:
            plan.mapped = plan.future.result()
        assert plan.mapped is not None
        written.append((n, plan.mapped[0]))

    with Pipeline(
        config=config, source=source, dialect_name="sqlite", mapper=mapper, workers=workers, write=write
    ) as pipeline:
        for n, plan in enumerate(plans(9, 5)):
            pipeline.add(plan, n)
            assert len(pipeline.pending) <= workers + 1
        pipeline.drain()

    assert [n for n, _ in written] == list(range(9))
    assert [rows for _, rows in written] == expected


@pytest.mark.parametrize("workers", [0, 1])
def test_a_failed_write_writes_nothing_after_it(tmp_path: Path, workers: int) -> None:
    config = write_config(tmp_path, [crm_source()], value_maps=VALUE_MAPS)
    source = config.sources[0]
    written: list[int] = []

    def write(_plan: Batch, n: int) -> None:
        if n == 2:
            raise RuntimeError("the database went away")
        written.append(n)

    pipeline: Pipeline[int] = Pipeline(
        config=config,
        source=source,
        dialect_name="sqlite",
        mapper=RecordMapper(config, source),
        workers=workers,
        write=write,
    )
    with pipeline, pytest.raises(RuntimeError):
        for n, plan in enumerate(plans(8, 2)):
            pipeline.add(plan, n)
        pipeline.drain()
    pipeline.add(plans(1, 2)[0], 9)  # a broken pipeline takes no more
    pipeline.drain()
    assert written == [0, 1]
    assert not pipeline.pending
