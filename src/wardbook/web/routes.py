"""The clinician web app's routes, mounted at ``/`` by :func:`wardbook.app.build_app`."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from wardbook.config import Settings
from wardbook.service.resources import ResourceService
from wardbook.web.admin import AdminPages
from wardbook.web.admin_clients import ClientPages
from wardbook.web.appointments import AppointmentPages
from wardbook.web.assets import StaticAssets, default_assets
from wardbook.web.break_glass import BreakGlassPages
from wardbook.web.context import WebContext, page
from wardbook.web.discharge import DischargePages
from wardbook.web.help import HelpPages
from wardbook.web.manual import ManualSite
from wardbook.web.patients import PatientPages
from wardbook.web.record import RecordPages
from wardbook.web.templating import Renderer

GET = ["GET"]


async def keepalive(request: Request) -> Response:
    """GET /session/keepalive: "Stay signed in" (the session middleware saw a request)."""
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


async def manual_home(request: Request) -> Response:
    """GET /manual: the site's relative links need the trailing slash."""
    return RedirectResponse("/manual/", status_code=308)


GET_POST = ["GET", "POST"]
POST = ["POST"]


def web_routes(
    service: ResourceService,
    settings: Settings | None = None,
    assets: StaticAssets | None = None,
) -> list[BaseRoute]:
    """Every page of the web app plus its static assets."""
    assets = assets or default_assets()
    ctx = WebContext(
        service=service,
        renderer=Renderer(assets, settings.zone if settings else UTC),
        assets=assets,
        break_glass_minutes=settings.break_glass_minutes if settings else 60,
    )
    wrap = page(ctx)
    record_page = page(ctx, patient_record=True)
    glass = BreakGlassPages(ctx)
    patients = PatientPages(ctx)
    record = RecordPages(ctx, patients)
    help_pages = HelpPages(ctx)
    admin = AdminPages(ctx)
    appointments = AppointmentPages(ctx)
    discharge = DischargePages(ctx)
    manual = ManualSite(
        Path(settings.manual_dir if settings else "build/site"), help_pages.manual_missing
    )
    p = "/patients/{patient_id}"
    return [
        Route("/", wrap(patients.find), methods=GET),
        Route("/patients/search", wrap(patients.search_fragment), methods=GET),
        Route(p, record_page(patients.summary), methods=GET),
        Route(p + "/vitals", record_page(patients.vitals), methods=GET),
        Route(p + "/vitals/new", record_page(patients.vitals_form), methods=GET_POST),
        Route(p + "/notes", record_page(patients.notes), methods=GET),
        Route(p + "/notes/new", record_page(patients.note_form), methods=GET_POST),
        Route(p + "/notes/{note_id}", record_page(patients.note), methods=GET),
        Route(p + "/problems/new", record_page(record.problem_form), methods=GET_POST),
        Route(
            p + "/problems/{condition_id}/resolve",
            record_page(record.resolve_problem),
            methods=POST,
        ),
        Route(p + "/allergies/new", record_page(record.allergy_form), methods=GET_POST),
        Route(
            p + "/medications/{medication_id}/stop",
            record_page(record.stop_medication),
            methods=GET_POST,
        ),
        Route(p + "/discharge", record_page(discharge.page), methods=GET_POST),
        Route(p + "/appointments", record_page(appointments.list), methods=GET),
        Route(p + "/appointments/new", record_page(appointments.book), methods=GET_POST),
        Route(p + "/audit", wrap(help_pages.audit), methods=GET),
        Route(p + "/break-glass", wrap(glass.open), methods=POST),
        Route("/help", wrap(help_pages.centre), methods=GET),
        Route("/help/accessibility", wrap(help_pages.accessibility), methods=GET),
        Route("/help/feedback", wrap(help_pages.feedback), methods=GET_POST),
        Route("/help/feedback/sent", wrap(help_pages.feedback_sent), methods=GET),
        Route("/admin", wrap(admin.index), methods=GET),
        Route("/admin/users", wrap(admin.user_list), methods=GET),
        Route("/admin/roles", wrap(admin.role_list), methods=GET),
        *ClientPages(ctx).routes(wrap),
        Route("/admin/feedback", wrap(help_pages.feedback_list), methods=GET),
        Route("/admin/feedback.csv", wrap(help_pages.feedback_csv), methods=GET),
        Route("/manual", manual_home, methods=GET),
        Route("/manual/{path:path}", wrap(manual.endpoint), methods=["GET", "HEAD"]),
        Route("/session/keepalive", keepalive, methods=GET),
        Route("/static/{path:path}", assets.endpoint, methods=["GET", "HEAD"]),
    ]
