-- SMART clients get a human-readable name (RFC 7591 client_name): the consent page tells
-- the user which app asks for access, and the admin page lists apps by name, not only id.
ALTER TABLE oauth_client ADD COLUMN client_name TEXT;
