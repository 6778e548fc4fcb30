"""Secret keys must arrive as Pulumi secrets: a plaintext secret in a stack file is a config error that names the key
and the command to set it, never the value."""

import json
from pathlib import Path

import pytest
from pulumi.runtime.config import set_all_config

from components.config import ConfigError, StackConfig, load_stack_config, parse_stack_config
from components.config.secrets import secret_keys_of
from scripts.preview.stack_files import read_stack_file
from tests.helpers import PROD_SELFHOSTED

URL = "https://events.pagerduty.com/integration/PLAINTEXT-KEY-42/enqueue"
MONITORING = json.dumps({"pagerdutyIntegrationUrl": URL})


def raw(monitoring: str = MONITORING) -> dict[str, str]:
    return {"cryb-db:environment": "prod", "cryb-db:selfhosted": PROD_SELFHOSTED, "cryb-db:monitoring": monitoring}


def test_the_pagerduty_url_is_a_secret_key() -> None:
    assert ("monitoring", "pagerdutyIntegrationUrl") in set(secret_keys_of(StackConfig))


def test_plaintext_secret_is_rejected_naming_key_and_command_never_the_value() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw(), secret_keys=set())
    assert caught.value.problems == [
        "cryb-db:monitoring.pagerdutyIntegrationUrl: a secret, but the stack file holds it in plaintext (value not "
        "shown); remove it from the stack file and set it with "
        "`pulumi config set --path --secret 'cryb-db:monitoring.pagerdutyIntegrationUrl' <value>`"
    ]
    assert "PLAINTEXT-KEY-42" not in str(caught.value)


def test_plaintext_secret_is_reported_with_the_other_problems() -> None:
    broken = {**raw(), "cryb-db:network": json.dumps({"azCount": 2})}
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(broken, secret_keys=set())
    assert caught.value.problems[0].startswith("cryb-db:monitoring.pagerdutyIntegrationUrl: a secret")
    assert "cryb-db:network.azCount = 2: must be 3 in prod" in caught.value.problems


def test_a_secret_section_is_accepted() -> None:
    """`pulumi config set --path --secret` marks the whole top-level key secret; the engine decrypts it for us."""
    config = parse_stack_config(raw(), secret_keys={"cryb-db:monitoring"})
    assert config.monitoring.pagerduty_integration_url is not None
    assert config.monitoring.pagerduty_integration_url.get_secret_value() == URL


def test_a_nested_value_still_encrypted_is_accepted() -> None:
    config = parse_stack_config(raw(json.dumps({"pagerdutyIntegrationUrl": {"secure": "v1:abc"}})), secret_keys=set())
    assert config.monitoring.pagerduty_integration_url is not None


def test_the_program_reads_secret_keys_as_the_engine_passes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_SECRET_KEYS", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    set_all_config(raw(), [])
    with pytest.raises(ConfigError, match="pagerdutyIntegrationUrl: a secret"):
        load_stack_config()
    set_all_config(raw(), ["cryb-db:monitoring"])  # the language host's configSecretKeys
    assert load_stack_config().environment == "prod"
    set_all_config(raw(), [])
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(["cryb-db:monitoring"]))  # older engines
    assert load_stack_config().environment == "prod"
    set_all_config({}, [])


def test_a_stack_file_with_a_nested_secure_value_marks_its_section_secret(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(
        "config:\n"
        "  cryb-db:environment: dev\n"
        "  cryb-db:monitoring:\n"
        "    pagerdutyIntegrationUrl:\n"
        "      secure: v1:abc\n"
        "  cryb-db:network:\n"
        "    azCount: 2\n"
    )
    stack_file = read_stack_file(path)
    assert stack_file.secret_keys == ["cryb-db:monitoring"]
    parse_stack_config(stack_file.config, stack_file.secret_keys)
