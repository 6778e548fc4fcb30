"""Pure network arithmetic and rules, without mocks."""

import ipaddress
import itertools

import pytest

from components.network.plan import ANYWHERE, nacl_rules, plan_subnets


@pytest.mark.parametrize(
    ("cidr", "azs"), [("10.20.0.0/16", 3), ("10.30.0.0/16", 2), ("172.16.0.0/20", 3), ("192.168.0.0/18", 4)]
)
def test_subnets_fit_the_vpc_and_never_overlap(cidr: str, azs: int) -> None:
    plan = plan_subnets(cidr, azs)
    vpc = ipaddress.IPv4Network(cidr)
    networks = [ipaddress.IPv4Network(p.cidr) for p in plan]
    assert len(plan) == 3 * azs
    assert all(n.subnet_of(vpc) for n in networks)
    assert not any(a.overlaps(b) for a, b in itertools.combinations(networks, 2))
    assert {p.tier for p in plan} == {"app", "data", "public"}


def test_adding_an_az_never_renumbers_existing_subnets() -> None:
    three = {(p.tier, p.az_index): p.cidr for p in plan_subnets("10.20.0.0/16", 3)}
    four = {(p.tier, p.az_index): p.cidr for p in plan_subnets("10.20.0.0/16", 4)}
    assert all(four[key] == cidr for key, cidr in three.items())


def test_a_slash_16_gives_slash_20_subnets() -> None:
    assert {ipaddress.IPv4Network(p.cidr).prefixlen for p in plan_subnets("10.20.0.0/16", 3)} == {20}


def test_az_count_out_of_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="az_count=5"):
        plan_subnets("10.20.0.0/16", 5)


def test_nacls_never_open_ssh_or_rdp_to_the_world() -> None:
    for tier, (ingress, _egress) in nacl_rules("10.20.0.0/16").items():
        for rule in ingress:
            if rule.cidr_block == ANYWHERE:
                assert rule.protocol in ("tcp", "udp"), tier
                assert not rule.from_port <= 22 <= rule.to_port, tier
                assert not rule.from_port <= 3389 <= rule.to_port, tier


def test_nacl_rule_numbers_are_unique_per_direction() -> None:
    for ingress, egress in nacl_rules("10.20.0.0/16").values():
        for rules in (ingress, egress):
            assert len({r.rule_no for r in rules}) == len(rules)


def test_data_tier_talks_only_to_the_vpc_and_https() -> None:
    ingress, egress = nacl_rules("10.20.0.0/16")["data"]
    assert [(r.cidr_block, r.protocol, r.from_port, r.to_port) for r in egress] == [
        ("10.20.0.0/16", "-1", 0, 0),
        (ANYWHERE, "tcp", 443, 443),
    ]
    assert all(r.protocol == "tcp" for r in ingress if r.cidr_block == ANYWHERE)
