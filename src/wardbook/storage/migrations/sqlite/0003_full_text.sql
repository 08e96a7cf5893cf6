-- Full-text search for _text and _content (R4 search.html#content), SQLite FTS5.
-- idx_text holds the words of each resource's narrative (_text) and whole content
-- (_content), written by the index diff like every idx_* table. idx_text_fts is an FTS5
-- index over it with external content (the words are stored once, in idx_text), kept in
-- step by the triggers; searches read it with the table-valued form idx_text_fts(?),
-- the same text the PostgreSQL function answers.

CREATE TABLE idx_text (
    pid      INTEGER NOT NULL REFERENCES resource_entity (pid),
    res_type TEXT    NOT NULL,
    param    TEXT    NOT NULL,
    text     TEXT    NOT NULL
) STRICT;
CREATE INDEX idx_text_pid ON idx_text (pid);

CREATE VIRTUAL TABLE idx_text_fts USING fts5 (
    text,
    content = 'idx_text',
    content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER idx_text_fts_insert AFTER INSERT ON idx_text BEGIN
    INSERT INTO idx_text_fts (rowid, text) VALUES (new.rowid, new.text);
END;

CREATE TRIGGER idx_text_fts_delete AFTER DELETE ON idx_text BEGIN
    INSERT INTO idx_text_fts (idx_text_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
