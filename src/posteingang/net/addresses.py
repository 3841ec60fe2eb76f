"""The key a client address is counted under, by the throttle and by the connection limits.

One function for both, so a client that the throttle counts as one (an IPv6 /64, an
IPv4-mapped address as its IPv4 address) is one client for the limits too. It lives in
`net` because the connection limits need it below `auth`, which imports it from here.
"""

from __future__ import annotations

import ipaddress

__all__ = ["address_key"]


def address_key(address: str) -> str:
    """The throttling key of a client address: IPv4 as is, IPv6 as its /64, an
    IPv4-mapped IPv6 address as the IPv4 address; anything unparsable as given."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
