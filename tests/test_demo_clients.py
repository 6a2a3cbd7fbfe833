"""demo.clients: whom a request is charged to, with 0, 1 and 2 trusted proxies, and the ledger."""

import threading

import pytest

from demo import clients
from demo.clients import Ledger, client_key

VISITOR, OTHER = "93.184.216.34", "151.101.1.69"


def xff(*values: str) -> list[tuple[bytes, bytes]]:
    return [(b"x-forwarded-for", value.encode()) for value in values]


def test_a_direct_visitor_is_its_own_address_whatever_it_claims():
    for hops in (0, 1, 2):
        assert client_key((VISITOR, 1), [], hops) == VISITOR
        assert client_key((VISITOR, 1), xff("1.2.3.4"), hops) == VISITOR
        assert client_key((VISITOR, 1), xff("1.2.3.4, 5.6.7.8", "9.9.9.9"), hops) == VISITOR


def test_with_no_trusted_proxy_even_a_private_peer_is_the_client():
    assert client_key(("10.0.0.2", 1), xff(VISITOR), 0) == "10.0.0.2"
    assert client_key(("127.0.0.1", 1), xff(VISITOR), 0) == "127.0.0.1"


def test_one_trusted_proxy_names_the_visitor_and_ignores_what_the_visitor_wrote():
    # the proxy appends the address it saw; whatever the visitor sent sits further left
    assert client_key(("10.0.0.2", 1), xff(VISITOR), 1) == VISITOR
    assert client_key(("10.0.0.2", 1), xff(f"1.2.3.4, {VISITOR}"), 1) == VISITOR
    assert client_key(("10.0.0.2", 1), xff("1.2.3.4", VISITOR), 1) == VISITOR  # two headers
    spoofs = {client_key(("10.0.0.2", 1), xff(f"{k}.1.1.1, {VISITOR}"), 1) for k in range(50)}
    assert spoofs == {VISITOR}


def test_two_trusted_proxies_name_the_visitor_the_outer_one_saw():
    # visitor -> edge proxy (203.0.113.9, public) -> inner proxy (10.0.0.2) -> app
    assert client_key(("10.0.0.2", 1), xff(f"{VISITOR}, 203.0.113.9"), 2) == VISITOR
    assert client_key(("10.0.0.2", 1), xff(f"6.6.6.6, {VISITOR}, 203.0.113.9"), 2) == VISITOR
    assert client_key(("10.0.0.2", 1), xff(f"{OTHER}, 203.0.113.9"), 2) == OTHER
    # with one hop configured behind two proxies, every visitor shares the edge's key: safe, coarse
    assert client_key(("10.0.0.2", 1), xff(f"{VISITOR}, 203.0.113.9"), 1) == "203.0.113.9"


def test_garbage_in_the_header_falls_back_to_an_address_a_proxy_wrote():
    assert client_key(("10.0.0.2", 1), xff("not-an-ip"), 1) == "10.0.0.2"
    assert client_key(("10.0.0.2", 1), xff(f"garbage, {VISITOR}"), 2) == VISITOR
    assert client_key(("10.0.0.2", 1), [], 1) == "10.0.0.2"
    assert client_key(None, xff(VISITOR), 1) == "unknown"
    assert client_key(("not an address", 1), [], 1) == "unknown"


def test_an_ipv6_visitor_is_keyed_on_its_64_block():
    keys = {client_key((f"2001:db8:1:2::{k:x}", 1), [], 1) for k in range(1, 300)}
    assert keys == {"2001:db8:1:2::/64"}
    assert client_key(("2001:db8:1:3::1", 1), [], 1) == "2001:db8:1:3::/64"
    assert client_key(("10.0.0.2", 1), xff("2001:db8:1:2:aaaa::1"), 1) == "2001:db8:1:2::/64"
    assert client_key(("::ffff:93.184.216.34", 1), [], 1) == VISITOR  # IPv4 in IPv6 clothing
    assert client_key(("10.0.0.2", 1), xff("[2001:db8::1]"), 1) == "2001:db8::/64"


def test_addresses_written_with_a_port_are_read_without_it():
    assert client_key(("10.0.0.2", 1), xff(f"{VISITOR}:51234"), 1) == VISITOR
    assert client_key(("10.0.0.2", 1), xff("[2001:db8:1:2::5]:443"), 1) == "2001:db8:1:2::/64"
    assert client_key(("10.0.0.2", 1), xff("1.2.3.4:x:y"), 1) == "10.0.0.2"


def test_the_number_of_hops_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(clients.HOPS_ENV, raising=False)
    assert clients.proxy_hops() == clients.DEFAULT_HOPS == 1
    monkeypatch.setenv(clients.HOPS_ENV, "2")
    assert clients.proxy_hops() == 2
    for bad in ("-1", "two", "99", "1.5"):
        monkeypatch.setenv(clients.HOPS_ENV, bad)
        with pytest.raises(ValueError, match=clients.HOPS_ENV):
            clients.proxy_hops()


def test_the_ledger_charges_when_it_admits_so_a_crowd_cannot_overshoot():
    ledger, admitted = Ledger(), []
    start = threading.Barrier(40)

    def one():
        start.wait()
        admitted.append(ledger.admit(VISITOR, 8))

    threads = [threading.Thread(target=one) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert admitted.count(True) == 8 and ledger.count(VISITOR) == 8
    assert ledger.admit(OTHER, 8)


def test_the_ledger_lets_held_ids_lapse_when_the_server_forgets_them():
    ledger, live = Ledger(), {"a", "b"}
    for ident in ("a", "b"):
        assert ledger.admit(VISITOR, 2)
        ledger.resolve(VISITOR, ident)
    assert not ledger.admit(VISITOR, 2, alive=live.__contains__)
    live.discard("a")
    assert ledger.admit(VISITOR, 2, alive=live.__contains__)
    ledger.resolve(VISITOR, None)  # refused downstream: holds nothing
    assert ledger.count(VISITOR) == 1


def test_the_ledger_forgets_clients_that_never_come_back(monkeypatch):
    monkeypatch.setattr(clients, "PRUNE_EVERY", 10)
    ledger, live = Ledger(), set()
    for k in range(9):
        assert ledger.admit(f"192.0.2.{k}", 8, alive=live.__contains__)
        ledger.resolve(f"192.0.2.{k}", f"event{k}")  # answered, then forgotten by the server
    assert len(ledger.held) == 9
    ledger.admit(VISITOR, 8, alive=live.__contains__)
    assert ledger.held == {}
