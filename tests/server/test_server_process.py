"""The drills' kill -9 takes the whole server down: granian's workers die with the parent."""

from __future__ import annotations

import os

from tests.server.conftest import Server
from wardbook.ops.server_process import live_group_members


def test_kill_leaves_no_orphan_worker(two_worker_server: Server) -> None:
    assert two_worker_server.process is not None
    leader = two_worker_server.process.pid
    assert os.getpgid(leader) == leader  # its own group: nothing of the test runner in it
    assert len(live_group_members(leader)) >= 3  # the parent and its two workers
    two_worker_server.kill()
    assert live_group_members(leader) == []
    two_worker_server.start()  # and the same port serves again (the drills restart in place)
    assert two_worker_server.process is not None
