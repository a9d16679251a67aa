"""Which addresses a webhook may reach: public ones only, unless
FLEETMON_ALLOW_PRIVATE_WEBHOOKS says otherwise. Webhook URLs are user input, so without
this a monitor could make FleetMon POST to its own database, Redis, or a cloud metadata
endpoint; guarded_connections applies it when connecting.
"""

from __future__ import annotations

import ipaddress

ALLOW_PRIVATE_HINT = "set FLEETMON_ALLOW_PRIVATE_WEBHOOKS to allow"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Spelled out rather than left to ipaddress.is_global/is_private, whose tables
# have changed between Python releases (100.64/10, multicast, IPv4-mapped).
_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches localhost on Linux
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, incl. cloud metadata 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. broadcast 255.255.255.255
        "::/8",  # unspecified, loopback, IPv4-compatible (mapped is unwrapped first)
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard
        "2001::/23",  # IETF protocol assignments, incl. Teredo
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated, still routable internally)
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BlockedDestination(Exception):
    def __init__(self, host: str, addresses: list[str]) -> None:
        self.host = host
        self.addresses = addresses
        listed = ", ".join(addresses)
        if [host] == addresses:
            message = f"{host} is not a public address"
        else:
            message = f"{host} resolves to {listed}, which is not a public address"
        super().__init__(message)


def is_public_address(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        # These IPv6 forms carry an IPv4 address and can end up delivering to
        # it, so ::ffff:127.0.0.1 is exactly as private as 127.0.0.1.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)

    if any(ip in net for net in _BLOCKED_NETWORKS if net.version == ip.version):
        return False
    # Belt and braces: whatever this Python's ipaddress also considers special.
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
        or not ip.is_global
    )
