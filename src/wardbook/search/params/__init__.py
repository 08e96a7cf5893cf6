"""One module per SearchParameter type (R4 search.html#ptypes): parse, extract, matches.

Each module turns a search value's text into a typed value (``parse``), a resource element
into index rows (``extract_*_rows``) and decides in memory whether rows match a value
(``matches``). The SQL twin of ``matches`` lives in ``wardbook.storage.search_sql``.
"""
