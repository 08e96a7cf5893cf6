-- Per-candidate probes seek (pid, param, value) instead of reading every row of a resource.
--
-- A search lets its most selective criterion drive and tests every other criterion as a
-- correlated EXISTS on the candidate's rows (wardbook.storage.search_sql.where_sql). With
-- an index on pid alone that probe read all of the candidate's rows of the table (about
-- 20 string rows for a Patient) and fetched each from the table to check param and value;
-- at 500,000 resources `Patient?family=X&given=Y` paid that for every patient sharing the
-- family name. Led by (pid, param) and ending in the compared value, the probe is one
-- index seek, answered from the index alone. Deleting a resource's rows by pid (the index
-- diff) uses the same leading column, so no index is added: each pid index is replaced.
DROP INDEX idx_string_pid;
CREATE INDEX idx_string_pid ON idx_string (pid, param, value_norm);
DROP INDEX idx_token_pid;
CREATE INDEX idx_token_pid ON idx_token (pid, param, code, system);
DROP INDEX idx_date_pid;
CREATE INDEX idx_date_pid ON idx_date (pid, param, low, high);
DROP INDEX idx_number_pid;
CREATE INDEX idx_number_pid ON idx_number (pid, param, value);
DROP INDEX idx_quantity_pid;
CREATE INDEX idx_quantity_pid ON idx_quantity (pid, param, code, value);
DROP INDEX idx_uri_pid;
CREATE INDEX idx_uri_pid ON idx_uri (pid, param, uri);
DROP INDEX idx_reference_pid;
CREATE INDEX idx_reference_pid ON idx_reference (pid, param, target_type, target_id);
DROP INDEX idx_composite_pid;
CREATE INDEX idx_composite_pid ON idx_composite (pid, param, key);
