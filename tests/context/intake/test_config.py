"""contextdesk.yaml validation errors name the source and key."""

from pathlib import Path

import pytest

from context.errors import ConfigError
from tests.context.intake.factories import VALUE_MAPS, crm_source, write_config


def test_unknown_canonical_field_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown canonical fields \\['emial'\\]"):
        write_config(tmp_path, [crm_source(fields={"emial": "email"}, required=[])])


def test_undefined_value_map_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="source 'crm' field 'plan': value map 'plan' is not defined"):
        write_config(tmp_path, [crm_source()], value_maps={"lifecycle": VALUE_MAPS["lifecycle"]})


def test_entity_fields_must_match_the_entity(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="do not belong to entity"):
        write_config(tmp_path, [crm_source(fields={"order.total": "total"}, required=[])], value_maps=VALUE_MAPS)


def test_duplicate_source_names_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="duplicate source names"):
        write_config(tmp_path, [crm_source(), crm_source()], value_maps=VALUE_MAPS)


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    from context.intake.config import load_intake_config

    path = tmp_path / "contextdesk.yaml"
    path.write_text("sources: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"contextdesk\.yaml: invalid YAML"):
        load_intake_config(path)


def test_an_unknown_time_zone_names_the_setting_and_the_iana_name(tmp_path: Path) -> None:
    from context.intake.config import parse_intake_config

    for written, suggested in (
        ("Pacific", "America/Los_Angeles"),
        ("london", "Europe/London"),
        ("Europe/Londn", "Europe/London"),
    ):
        with pytest.raises(ConfigError) as caught:
            parse_intake_config({"timezone": written}, base_dir=tmp_path, origin="shop.yaml")
        assert str(caught.value) == f"shop.yaml: timezone: unknown time zone {written!r}; did you mean {suggested!r}?"
    with pytest.raises(ConfigError, match=r"sources.0.timezone: unknown time zone 'Mars' \(use an IANA name"):
        parse_intake_config(
            {"sources": [{"name": "a", "kind": "csv", "path": "a.csv", "id": "id", "timezone": "Mars"}]},
            base_dir=tmp_path,
        )
