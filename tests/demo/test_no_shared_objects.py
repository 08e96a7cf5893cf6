"""Resources share no nested objects, so a caller may change one without changing others."""

from __future__ import annotations

from typing import Any

from .helpers import walk


def test_no_two_resources_share_a_nested_object(shared: list[Any], resources: list[Any]) -> None:
    owner: dict[int, str] = {}
    for resource in shared + resources:
        for path, value in walk(resource):
            if isinstance(value, dict | list) and path:
                assert owner.setdefault(id(value), resource["id"]) == resource["id"], path
