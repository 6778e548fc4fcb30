"""The rules `__main__.py` checks after looking up the region and its AZs: every broken one reported at once."""

import json

from components.config import parse_stack_config
from components.config.region_checks import region_problems
from scripts.stack_files import read_stack_file, stack_file_path


def prod(**sections: object) -> dict[str, str]:
    raw = dict(read_stack_file(stack_file_path("prod")).config)
    raw.update({f"cryb-db:{key}": json.dumps(value) for key, value in sections.items()})
    return raw


def test_the_shipped_stacks_fit_their_region() -> None:
    for stack in ("dev", "prod"):
        config = parse_stack_config(read_stack_file(stack_file_path(stack)).config)
        assert region_problems(config, "us-east-1", 6) == []


def test_every_problem_is_reported_together_naming_its_key() -> None:
    config = parse_stack_config(prod(backups={"drRegion": "us-east-1"}))
    problems = region_problems(config, "us-east-1", 2)
    assert problems[0] == "cryb-db:network.azCount = 3: region us-east-1 has only 2 AZs"
    assert "cryb-db:backups.drRegion = 'us-east-1': must differ from aws:region ('us-east-1')" in problems
    assert len(problems) == 2


def test_no_paired_region_and_a_plain_http_pager_url_are_named_without_echoing_the_secret() -> None:
    raw = prod(backups={"drRegion": "us-west-2"})
    raw["cryb-db:monitoring"] = json.dumps({"pagerdutyIntegrationUrl": "http://events.example.com/secret-key-123"})
    config = parse_stack_config(raw)
    problems = region_problems(config, "xx-east-9", 3)
    assert any("backupReplicationRegion = 'auto': no paired region known for xx-east-9" in p for p in problems)
    assert any(p.startswith("cryb-db:monitoring.pagerdutyIntegrationUrl: must be an https:// URL") for p in problems)
    assert not any("secret-key-123" in p for p in problems)
