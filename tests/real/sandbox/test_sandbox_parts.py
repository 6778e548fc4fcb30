"""The sandbox's pure parts on the prod user data: decoding, the address rewrite, unit ordering and the skip list.
Marked `servers` with the rest of this folder (they need no server, and take milliseconds)."""

from __future__ import annotations

import base64
import gzip

import pytest

from scripts.preview.mock_engine import Evaluation
from scripts.sandbox.addresses import AddressTable
from scripts.sandbox.image import SKIPS, Image
from scripts.sandbox.preview import node_specs
from scripts.sandbox.units import UnitSet, parse_environment_file, parse_unit, split_exec
from scripts.sandbox.userdata import UserDataError, decode_user_data, parse_cloud_config

pytestmark = pytest.mark.servers


def test_the_preview_user_data_decodes_to_write_files_and_one_runcmd(prod: Evaluation) -> None:
    specs = node_specs(prod, "cryb-prod-analytics")
    assert [(s.name, s.vpc_address) for s in specs] == [
        ("cryb-prod-analytics-node-a", "10.98.30.151"),
        ("cryb-prod-analytics-node-b", "10.98.30.152"),
        ("cryb-prod-analytics-node-c", "10.98.30.153"),
    ]
    config = parse_cloud_config(decode_user_data(specs[0].user_data))
    assert config.runcmd == (("/usr/local/sbin/cryb-pg-setup",),)
    assert config.file("/usr/local/sbin/cryb-pg-credentials").permissions == 0o700
    assert "lock-path=/run/pgbackrest" in config.file("/etc/pgbackrest/pgbackrest.conf").content


def test_cloud_config_keys_the_sandbox_does_not_apply_are_refused() -> None:
    text = "#cloud-config\nbootcmd: [reboot]\nwrite_files: []\n"
    with pytest.raises(UserDataError, match="bootcmd"):
        parse_cloud_config(decode_user_data(base64.b64encode(gzip.compress(text.encode())).decode()))


def test_the_rewrite_replaces_whole_vpc_addresses_only() -> None:
    table = AddressTable.for_vpc_addresses(["10.98.30.151", "10.98.30.15"])
    text = "a=10.98.30.151:2379 b=10.98.30.15/32 c=110.98.30.151 d=10.98.30.1510 e=10.98.30.151.5"
    assert (
        table.rewrite(text) == "a=127.0.30.151:2379 b=127.0.30.15/32 c=110.98.30.151 d=10.98.30.1510 e=10.98.30.151.5"
    )
    with pytest.raises(ValueError, match="already"):
        AddressTable.for_vpc_addresses(["10.98.30.151", "10.99.30.151"])


def test_rendered_files_differ_from_the_sandbox_copy_only_by_the_table(prod: Evaluation) -> None:
    specs = node_specs(prod, "cryb-prod-analytics")
    table = AddressTable.for_vpc_addresses(s.vpc_address for s in specs)
    for written in parse_cloud_config(decode_user_data(specs[0].user_data)).files:
        rewritten = table.rewrite(written.content)
        back = rewritten
        for vpc, alias in table.rows():
            back = back.replace(alias, vpc)
        assert back == written.content, written.path
        assert "10.98.30.15" not in rewritten, written.path


def test_units_start_in_dependency_order(prod: Evaluation, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = parse_cloud_config(decode_user_data(node_specs(prod, "cryb-prod-analytics")[0].user_data))
    for written in config.files:
        if written.path.startswith("/etc/systemd/system/"):
            (tmp_path / written.path.rsplit("/", 1)[-1]).write_text(written.content)
    units = UnitSet.load(tmp_path)
    order = units.start_order(["cryb-patroni", "cryb-etcd", "cryb-node-address", "cryb-pg-credentials.timer"])
    assert (
        order.index("cryb-node-address.service")
        < order.index("cryb-etcd.service")
        < order.index("cryb-patroni.service")
    )
    backup = units.get("cryb-pgbackrest-backup@full.service")
    assert backup is not None and backup.value("Service", "ExecStart") == "/usr/local/sbin/cryb-pg-backup full"
    patroni = units.get("cryb-patroni.service")
    assert patroni is not None and patroni.flag("PrivateTmp") and patroni.value("Service", "User") == "postgres"
    assert split_exec(patroni.value("Service", "ExecReload"), main_pid=42) == (False, ["/bin/kill", "-s", "HUP", "42"])
    assert all(unit.unhonoured() == [] for unit in units.units.values())


def test_unit_and_environment_parsing() -> None:
    unit = parse_unit("x.service", "[Service]\nEnvironment=A=1 B=2\nExecStart=-/bin/true\n")
    assert split_exec(unit.value("Service", "ExecStart")) == (True, ["/bin/true"])
    assert parse_environment_file("# c\nA=\"x y\"\nB='z'\nC=plain\n") == {"A": "x y", "B": "z", "C": "plain"}


def test_the_skip_list_names_what_it_skips_and_why() -> None:
    assert all(skip.reason for skip in SKIPS)
    image = Image.debian_host({"17": "15"})
    assert image.path_aliases == {"/usr/lib/postgresql/17": "/usr/lib/postgresql/15"}
    assert image.skip_for("cryb-node-address.service") is not None
    assert image.skip_for("cryb-patroni.service") is None
