"""SMART discovery: ``.well-known/smart-configuration`` and the CapabilityStatement security.

SMART App Launch 2.0, conformance.html: the JSON document at
``[base]/.well-known/smart-configuration`` lists the endpoints and capabilities; the
CapabilityStatement's ``rest.security`` carries the ``SMART-on-FHIR`` service code and the
``oauth-uris`` extension with the same endpoints.
"""

from __future__ import annotations

from typing import Any

from wardbook.auth.scopes import NON_RESOURCE_SCOPES

AUTHORIZE_PATH = "/oauth2/authorize"
TOKEN_PATH = "/oauth2/token"  # noqa: S105  # nosec B105: a URL path, not a secret
INTROSPECT_PATH = "/oauth2/introspect"
REVOKE_PATH = "/oauth2/revoke"
JWKS_PATH = "/oauth2/jwks"

CAPABILITIES = (
    "launch-ehr",
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "context-passthrough-banner",
    "context-ehr-patient",
    "context-ehr-encounter",
    "context-standalone-patient",
    "permission-offline",
    "permission-online",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
    "sso-openid-connect",
    "authorize-post",
)


def origin_of(fhir_base: str) -> str:
    """The server origin (the OAuth issuer) of a FHIR base ending in ``/fhir``."""
    return fhir_base[: -len("/fhir")] if fhir_base.endswith("/fhir") else fhir_base


def endpoints(fhir_base: str) -> dict[str, str]:
    origin = origin_of(fhir_base)
    return {
        "authorize": origin + AUTHORIZE_PATH,
        "token": origin + TOKEN_PATH,
        "introspect": origin + INTROSPECT_PATH,
        "revoke": origin + REVOKE_PATH,
        "jwks": origin + JWKS_PATH,
    }


def smart_configuration(fhir_base: str) -> dict[str, Any]:
    """The SMART configuration document (conformance.html#metadata)."""
    urls = endpoints(fhir_base)
    return {
        "issuer": origin_of(fhir_base),
        "jwks_uri": urls["jwks"],
        "authorization_endpoint": urls["authorize"],
        "token_endpoint": urls["token"],
        "introspection_endpoint": urls["introspect"],
        "revocation_endpoint": urls["revoke"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types_supported": ["code"],
        "token_endpoint_auth_methods_supported": [
            "none",
            "client_secret_basic",
            "private_key_jwt",
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384", "RS256", "ES256"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "scopes_supported": [
            *sorted(NON_RESOURCE_SCOPES),
            *("patient/*.cruds", "user/*.cruds", "system/*.cruds", "patient/*.*", "user/*.*"),
        ],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": list(CAPABILITIES),
    }


def capability_security(fhir_base: str) -> dict[str, Any]:
    """CapabilityStatement.rest.security for SMART (conformance.html#using-cs)."""
    urls = endpoints(fhir_base)
    return {
        "cors": False,
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }
                ],
                "text": "OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)",
            }
        ],
        "extension": [
            {
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": [
                    {"url": "authorize", "valueUri": urls["authorize"]},
                    {"url": "token", "valueUri": urls["token"]},
                    {"url": "introspect", "valueUri": urls["introspect"]},
                    {"url": "revoke", "valueUri": urls["revoke"]},
                ],
            }
        ],
        "description": "Bearer access tokens from the SMART App Launch 2.0 authorization"
        " server; /metadata and .well-known/smart-configuration are public.",
    }
