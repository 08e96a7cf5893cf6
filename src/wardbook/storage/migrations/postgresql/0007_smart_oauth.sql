-- SMART on FHIR / OAuth2 authorization server state (wardbook.storage.oauth_store).
-- Instants are BIGINT epoch seconds. Secrets and tokens are stored only as SHA-256 hashes.

CREATE TABLE oauth_client (
    client_id     TEXT    PRIMARY KEY,
    client_type   TEXT    NOT NULL CHECK (client_type IN ('public', 'confidential', 'backend')),
    secret_hash   TEXT,
    redirect_uris TEXT    NOT NULL,
    scope         TEXT    NOT NULL,
    jwks          TEXT,
    jwks_uri      TEXT,
    created_at    BIGINT  NOT NULL
);

-- Signing keys: the newest unretired one signs; retired ones verify until expires_at.
CREATE TABLE oauth_signing_key (
    kid         TEXT    PRIMARY KEY,
    alg         TEXT    NOT NULL,
    private_jwk TEXT    NOT NULL,
    public_jwk  TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    retired_at  BIGINT,
    expires_at  BIGINT
);

CREATE TABLE oauth_code (
    code_hash      TEXT    PRIMARY KEY,
    client_id      TEXT    NOT NULL,
    redirect_uri   TEXT    NOT NULL,
    code_challenge TEXT    NOT NULL,
    grant_json     TEXT    NOT NULL,
    family_id      TEXT    NOT NULL,
    expires_at     BIGINT  NOT NULL,
    used_at        BIGINT
);

CREATE TABLE oauth_refresh_token (
    token_hash TEXT    PRIMARY KEY,
    family_id  TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    grant_json TEXT    NOT NULL,
    issued_at  BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    used_at    BIGINT,
    revoked_at BIGINT
);
CREATE INDEX oauth_refresh_token_family ON oauth_refresh_token (family_id);

-- Revoked access-token ids (jti) and token families, kept until the tokens expire.
CREATE TABLE oauth_revocation (
    token_id   TEXT    PRIMARY KEY,
    revoked_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);

-- Client assertion ids already seen (SMART Backend Services: a jti is used once).
CREATE TABLE oauth_assertion (
    client_id  TEXT    NOT NULL,
    jti        TEXT    NOT NULL,
    expires_at BIGINT  NOT NULL,
    PRIMARY KEY (client_id, jti)
);
