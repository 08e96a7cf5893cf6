-- Nothing to change on SQLite (this number keeps both dialects' versions in step).
--
-- On PostgreSQL 0019 adds extended statistics so its planner picks the smaller list to
-- drive a search. SQLite has no such planner statistics in use here; the search compiler
-- counts the candidate lists itself (search_sql.choose_driver).
SELECT 1;
