-- Extended statistics on the index tables' leading columns (PostgreSQL 15, CREATE STATISTICS).
--
-- The planner took res_type, param and the value as independent: `clinical-status = active`
-- (627 of 1,014 Conditions on a 300-patient demo database) multiplied out to an estimate of
-- one row, so a search kept the statement's order and probed every active Condition for the
-- code. With the most common (res_type, param, value) combinations and the functional
-- dependencies between them it estimates the lists as they are and drives from the smaller
-- one (docs/search.md, "Which criterion drives a search"; docs/benchmarks.md).
CREATE STATISTICS IF NOT EXISTS idx_token_type_param_code (mcv, dependencies)
    ON res_type, param, code FROM idx_token;
CREATE STATISTICS IF NOT EXISTS idx_string_type_param_value (mcv, dependencies)
    ON res_type, param, value_norm FROM idx_string;
CREATE STATISTICS IF NOT EXISTS idx_reference_type_param_target (dependencies)
    ON res_type, param, target_type FROM idx_reference;
CREATE STATISTICS IF NOT EXISTS idx_date_type_param (dependencies)
    ON res_type, param FROM idx_date;
-- Autovacuum's next ANALYZE would fill them; do it now so upgraded databases plan with them.
ANALYZE idx_token, idx_string, idx_reference, idx_date;
