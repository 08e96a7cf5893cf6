-- Per-candidate probes seek (pid, param) instead of reading every row of a resource.
--
-- A search lets its most selective criterion drive and tests every other criterion as a
-- correlated EXISTS on the candidate's rows (wardbook.storage.search_sql.where_sql). With
-- an index on pid alone that probe read all of the candidate's rows of the table (about
-- 20 string rows for a Patient) and fetched each from the table to check param and value;
-- at 500,000 resources `Patient?family=X&given=Y` paid that for every patient sharing the
-- family name. On (pid, param) the probe reads only the rows of the one parameter. The
-- compared value is deliberately not in these indexes: with it, PostgreSQL may full-scan a
-- pid index for a lookup by value on small tables (tests/storage/test_schema.py caught it).
-- Deleting a resource's rows by pid (the index diff) uses the same leading column, so no
-- index is added: each pid index is replaced.
DROP INDEX idx_string_pid;
CREATE INDEX idx_string_pid ON idx_string (pid, param);
DROP INDEX idx_token_pid;
CREATE INDEX idx_token_pid ON idx_token (pid, param);
DROP INDEX idx_date_pid;
CREATE INDEX idx_date_pid ON idx_date (pid, param);
DROP INDEX idx_number_pid;
CREATE INDEX idx_number_pid ON idx_number (pid, param);
DROP INDEX idx_quantity_pid;
CREATE INDEX idx_quantity_pid ON idx_quantity (pid, param);
DROP INDEX idx_uri_pid;
CREATE INDEX idx_uri_pid ON idx_uri (pid, param);
DROP INDEX idx_reference_pid;
CREATE INDEX idx_reference_pid ON idx_reference (pid, param);
DROP INDEX idx_composite_pid;
CREATE INDEX idx_composite_pid ON idx_composite (pid, param);
