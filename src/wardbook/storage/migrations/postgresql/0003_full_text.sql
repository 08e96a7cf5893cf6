-- Full-text search for _text and _content (R4 search.html#content), PostgreSQL tsvector.
-- idx_text holds the words of each resource's narrative (_text) and whole content
-- (_content), written by the index diff like every idx_* table. A GIN index on
-- to_tsvector('simple', text) answers word searches ('simple': the words are already
-- case- and accent-folded, and no stemming, like SQLite's unicode61 tokenizer).
-- idx_text_fts(query) has the same shape as SQLite's FTS5 table-valued call, so one SQL
-- text serves both backends; being a one-SELECT SQL function it is inlined by the planner.

CREATE TABLE idx_text (
    pid      bigint NOT NULL REFERENCES resource_entity (pid),
    res_type text COLLATE "C" NOT NULL,
    param    text COLLATE "C" NOT NULL,
    text     text NOT NULL,
    rowid    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY
);
CREATE INDEX idx_text_pid ON idx_text (pid);
CREATE INDEX idx_text_words ON idx_text USING gin (to_tsvector('simple'::regconfig, text));

CREATE FUNCTION idx_text_fts(query text) RETURNS TABLE (rowid bigint)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT t.rowid FROM idx_text t
    WHERE to_tsvector('simple'::regconfig, t.text) @@ plainto_tsquery('simple'::regconfig, query)
$$;
