"""Admin pages: users and roles, read through the auth module's stores (no SQL here)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, tzinfo

from starlette.requests import Request
from starlette.responses import Response

from wardbook.auth.principal import current_principal
from wardbook.auth.roles import ROLE_GRANTS
from wardbook.auth.users import UserStore
from wardbook.errors import Forbidden
from wardbook.web.context import WebContext
from wardbook.web.formatting import date_time
from wardbook.web.help import is_admin


class AdminPages:
    """GET /admin, /admin/users, /admin/roles (administrators only)."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.users = UserStore(ctx.service.repository)

    def _require_admin(self) -> None:
        if not is_admin(current_principal()):
            raise Forbidden("Only administrators can see this page")

    async def index(self, request: Request) -> Response:
        self._require_admin()
        return self.ctx.renderer.page(request, "admin/index.html")

    async def user_list(self, request: Request) -> Response:
        self._require_admin()
        users = sorted(await self.users.all(), key=lambda u: u.username)
        now = self.users_now()
        rows = [
            {
                "username": user.username,
                "roles": ", ".join(sorted(user.roles)) or "None",
                "mfa": "Set up" if user.mfa_enrolled else "Not set up",
                "status": "Disabled"
                if user.disabled
                else ("Locked" if user.locked_until > now else "Active"),
                "created": date_time_from_micros(user.created_at, self.ctx.renderer.zone),
            }
            for user in users
        ]
        return self.ctx.renderer.page(request, "admin/users.html", {"rows": rows})

    async def role_list(self, request: Request) -> Response:
        self._require_admin()
        roles = [
            {
                "name": role.name,
                "description": role.description,
                "care": "Yes" if role.care_relationship_required else "No",
                "grants": [
                    (group, ", ".join(sorted(actions)))
                    for group, actions in sorted(role.grants.items())
                ],
            }
            for role in ROLE_GRANTS.values()
        ]
        return self.ctx.renderer.page(request, "admin/roles.html", {"roles": roles})

    @staticmethod
    def users_now() -> int:
        return time.time_ns() // 1000


def date_time_from_micros(micros: int, zone: tzinfo = UTC) -> str:
    """An epoch-microseconds time on the hospital's clock."""
    return date_time(datetime.fromtimestamp(micros / 1_000_000, tz=UTC), zone)
