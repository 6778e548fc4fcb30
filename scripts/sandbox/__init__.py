"""The node sandbox: boot a launch template's user data, exactly as the preview records it, as a node on this machine.

One abstraction, `Node` (node.py): a launch template's user data booted in its own Linux mount namespace and network
namespace. Around it, small modules that each own one concern:

* userdata.py: decode base64/gzip `#cloud-config`, parse `write_files` and `runcmd`;
* addresses.py: the one rewrite table (VPC address -> loopback alias) applied to the files, and nothing else;
* network.py: the sandbox's own network namespaces (a hub with a bridge, one namespace per node);
* forward.py: a TCP forwarder from a sandbox namespace to a service on the host's loopback (moto);
* imds.py: the IMDSv2 stub each node's scripts read (token, instance id, region, role credentials);
* units.py: systemd unit parsing, ordering and `systemd-analyze verify`;
* services.py: the unit runner (no systemd runs here) and the `systemctl` stand-in it serves;
* image.py: what the sandbox "image" provides (packages baked, PostgreSQL major mapping, trust store, hosts) and
  the one skip list of steps that cannot run here;
* cluster.py: a set of nodes on one sandbox network;
* cache.py: the self-hosted cache's nodes in a preview and their image (Valkey served by Redis 7, a node-private
  stand-in for vm.overcommit_memory); docs/cache.md, "Cache nodes in the sandbox".

Apart from cache.py, nothing here knows Patroni or Redis: it boots user data. See docs/selfhosted.md, "Booting a
rendered node".
"""

from scripts.sandbox.addresses import AddressTable
from scripts.sandbox.cluster import AwsEndpoint, Sandbox
from scripts.sandbox.node import Node
from scripts.sandbox.userdata import CloudConfig, WrittenFile, decode_user_data, parse_cloud_config

__all__ = [
    "AddressTable",
    "AwsEndpoint",
    "CloudConfig",
    "Node",
    "Sandbox",
    "WrittenFile",
    "decode_user_data",
    "parse_cloud_config",
]
