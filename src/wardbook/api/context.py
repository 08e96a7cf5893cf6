"""What every FHIR handler receives: the service and the settings, wired once in app.py."""

from __future__ import annotations

from dataclasses import dataclass

from wardbook.config import Settings
from wardbook.service.resources import ResourceService


@dataclass(frozen=True, slots=True)
class FhirContext:
    service: ResourceService
    settings: Settings
