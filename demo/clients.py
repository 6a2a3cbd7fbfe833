"""Who is asking, and how much of the server they hold: client keys and an atomic ledger.

A client is keyed on the address that connected to us, unless that address is a proxy we trust
(a private, loopback or link-local address): then on the X-Forwarded-For entry that the
outermost of the configured proxies wrote. How many proxies stand in front of the app is set by
HRNN_PROXY_HOPS (default 1: one reverse proxy on a private network, as on a Hugging Face Space,
whose app sees an internal 10.x peer and the visitor's address in X-Forwarded-For). Entries a
client writes itself sit further left and are never read, so a spoofed header buys nothing. An
IPv6 client is keyed on its /64, the block one household or phone is handed.
"""

import ipaddress
import os
import threading
from collections.abc import Iterable

HOPS_ENV = "HRNN_PROXY_HOPS"
DEFAULT_HOPS = 1  # one trusted reverse proxy (the hosting platform's), only from private peers
MAX_HOPS = 8
PRUNE_EVERY = 1024  # admissions between sweeps of every client's lapsed holdings
IPV6_PREFIX = 64  # an IPv6 visitor holds a whole /64: one key for all of it
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def proxy_hops() -> int:
    """HRNN_PROXY_HOPS as a number of trusted proxies (0 to MAX_HOPS); unreadable -> default."""
    raw = os.environ.get(HOPS_ENV, "").strip()
    if not raw:
        return DEFAULT_HOPS
    if not raw.isdigit() or int(raw) > MAX_HOPS:
        raise ValueError(f"{HOPS_ENV} must be a whole number from 0 to {MAX_HOPS}, not {raw!r}.")
    return int(raw)


def client_key(peer: tuple | None, headers: Iterable[tuple[bytes, bytes]], hops: int) -> str:
    """The key a request's quotas are charged to (see the module docstring).

    `headers` are the raw ASGI pairs: every X-Forwarded-For header counts, in order.
    """
    host = _address(peer[0] if peer else "")
    if host is None:
        return "unknown"
    if hops == 0 or not _trusted(host):
        return _key(host)
    forwarded = [
        entry.strip()
        for name, value in headers
        if name.lower() == b"x-forwarded-for"
        for entry in value.decode("latin-1").split(",")
    ]
    # the last `hops` entries were written by our proxies (the nearest one wrote the last);
    # the leftmost of them is the visitor as the outermost proxy saw it
    for entry in forwarded[-hops:]:
        address = _address(entry)
        if address is not None:
            return _key(address)
    return _key(host)  # a trusted peer that forwarded nothing usable: it is the client


def _address(text: str) -> Address | None:
    """An address as proxies write it: bare, [IPv6], or with a port (1.2.3.4:80, [::1]:80)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _trusted(address: Address) -> bool:
    """Proxies live on private networks; a public peer is the visitor itself."""
    return address.is_private or address.is_loopback or address.is_link_local


def _key(address: Address) -> str:
    if address.version == 6:
        return str(ipaddress.IPv6Network(f"{address}/{IPV6_PREFIX}", strict=False))
    return str(address)


class Ledger:
    """What each client holds, charged when admitted: check and charge are one locked step.

    `admit` refuses when the client already holds `cap`; otherwise the charge is taken at once,
    so requests arriving together cannot all pass a check made before any of them was counted.
    `alive` lets a holding (an event id) lapse when the server has forgotten it.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: dict[str, int] = {}  # client -> admitted, not yet resolved
        self.held: dict[str, set[str]] = {}  # client -> ids still held
        self.admitted = 0

    def admit(self, client: str, cap: int, alive=None) -> bool:
        with self.lock:
            self.admitted += 1
            if alive is not None and self.admitted % PRUNE_EVERY == 0:
                for other in list(self.held):  # clients that never came back
                    self._store(other, {ident for ident in self.held[other] if alive(ident)})
            held = self.held.get(client, set())
            if alive is not None:
                held = {ident for ident in held if alive(ident)}
                self._store(client, held)
            if self.pending.get(client, 0) + len(held) >= cap:
                return False
            self.pending[client] = self.pending.get(client, 0) + 1
            return True

    def resolve(self, client: str, ident: str | None) -> None:
        """The admitted request is answered: it now holds `ident` (None: holds nothing)."""
        with self.lock:
            self.pending[client] -= 1
            if not self.pending[client]:
                del self.pending[client]
            if ident is not None:
                self._store(client, self.held.get(client, set()) | {ident})

    def count(self, client: str) -> int:
        with self.lock:
            return self.pending.get(client, 0) + len(self.held.get(client, ()))

    def _store(self, client: str, held: set[str]) -> None:
        if held:
            self.held[client] = held
        else:
            self.held.pop(client, None)
