"""tools.allocator: every setting measured in its own process, written as JSON."""

import json

import pytest

from tools import allocator


def test_each_setting_gets_a_time_per_read(tmp_path):
    out = tmp_path / "allocator.json"
    assert allocator.main(["--reads", "2", "--blocks", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["ms_per_read"]) == set(allocator.SETTINGS)
    assert all(ms > 0 for ms in result["ms_per_read"].values())


def test_no_reads_is_refused():
    with pytest.raises(SystemExit):
        allocator.main(["--reads", "0"])
