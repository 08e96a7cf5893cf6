-- The value indexes that drive searches carry the pid, so a driving list is index-only.
--
-- A search's driving criterion is `e.pid IN (SELECT i.pid FROM idx_x i WHERE <value>)`
-- (wardbook.storage.search_sql.where_sql). SQLite's index entries end in the rowid of the
-- idx_* row, not its pid, so every entry of the range cost a table lookup for the pid:
-- at 507,463 resources the 43 patients sharing a family name took 70 us to list, 30 us
-- from these indexes. Same-rank string criteria are also intersected from such lists
-- (search_sql.paired_lists), which pays only with index-only lists. PostgreSQL keeps its
-- indexes: its planner already answers these searches within 1.4x (docs/benchmarks.md).
DROP INDEX idx_string_value;
CREATE INDEX idx_string_value ON idx_string (res_type, param, value_norm, pid);
DROP INDEX idx_token_code;
CREATE INDEX idx_token_code ON idx_token (res_type, param, code, system, pid);
DROP INDEX idx_date_range;
CREATE INDEX idx_date_range ON idx_date (res_type, param, low, high, pid);
DROP INDEX idx_reference_target;
CREATE INDEX idx_reference_target ON idx_reference (res_type, param, target_type, target_id, pid);
