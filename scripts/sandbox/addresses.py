"""The one rewrite applied to a node's files: each VPC address becomes a loopback alias of its own.

Why: the rendered files name the nodes' VPC addresses (10.x), and test traffic must never go to a 10.x,
172.16-31.x or 192.168.x address of the host's network. Each node instead answers on 127.0.<c>.<d> for VPC address
<a>.<b>.<c>.<d> (10.98.30.151 -> 127.0.30.151): distinct per node, recognisable, and not 127.0.0.1, which Patroni
refuses as a connect address. Only whole addresses in the table are replaced (10.98.30.151/32 -> 127.0.30.151/32);
no other byte of any file changes.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class AddressTable:
    mapping: Mapping[str, str]
    """VPC address -> the loopback alias standing for it."""

    @classmethod
    def for_vpc_addresses(cls, addresses: Iterable[str]) -> AddressTable:
        mapping: dict[str, str] = {}
        for address in addresses:
            vpc = ipaddress.IPv4Address(address)
            if not vpc.is_private or vpc.is_loopback:
                raise ValueError(f"{address}: not a private VPC address")
            alias = f"127.0.{vpc.packed[2]}.{vpc.packed[3]}"
            if alias in ("127.0.0.1", "127.0.0.0") or alias.endswith(".255"):
                raise ValueError(f"{address}: its alias {alias} is not usable for a node")
            if alias in mapping.values():
                raise ValueError(f"{address}: alias {alias} is already another address's")
            mapping[str(vpc)] = alias
        return cls(mapping)

    def alias(self, vpc_address: str) -> str:
        return self.mapping[vpc_address]

    def _pattern(self) -> re.Pattern[str]:
        alternatives = "|".join(re.escape(a) for a in sorted(self.mapping, key=len, reverse=True))
        # Whole addresses only: 10.98.30.15 must not match inside 10.98.30.151, nor 110.98.30.151.
        return re.compile(rf"(?<![\d.])({alternatives})(?![\d])(?!\.\d)")

    def rewrite(self, text: str) -> str:
        if not self.mapping:
            return text
        return self._pattern().sub(lambda match: self.mapping[match.group(1)], text)

    def occurrences(self, text: str) -> int:
        return len(self._pattern().findall(text)) if self.mapping else 0

    def rows(self) -> list[tuple[str, str]]:
        return sorted(self.mapping.items())
