-- workload.sql — allocation-heavy SQLite workload for the LD_PRELOAD checks and benchmark.
-- 100k rows from a recursive CTE, an index, aggregates, updates, deletes, a sort and a self-join.
-- Every result follows from a formula over x = 1..100000; run.sh holds the expected output.
PRAGMA cache_size = -65536;
CREATE TABLE t(x INTEGER PRIMARY KEY, grp INTEGER, name TEXT, sq INTEGER, pad TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
INSERT INTO t SELECT x, x % 10, printf('row%06d', x), x * x, printf('%.*c', 20 + x % 50, char(65 + x % 26)) FROM c;
CREATE INDEX t_grp ON t(grp, name);
SELECT 'count', count(*), sum(x), sum(sq), sum(length(name)), sum(length(pad)) FROM t;
SELECT 'group', grp, count(*), sum(x), min(name), max(name) FROM t GROUP BY grp ORDER BY grp;
SELECT 'indexed', count(*) FROM t WHERE grp = 3 AND name > 'row050000';
SELECT 'sorted', count(*) FROM (SELECT k, row_number() OVER (ORDER BY k) AS rn
                                  FROM (SELECT (x * 7919) % 100000 AS k FROM t)) WHERE rn = k + 1;
SELECT 'padsort', group_concat(x) FROM (SELECT x FROM t ORDER BY pad DESC, x DESC LIMIT 3);
SELECT 'top', name FROM t ORDER BY name DESC LIMIT 3;
UPDATE t SET name = name || '-' || grp WHERE x % 2 = 0;
SELECT 'updated', sum(length(name)) FROM t;
DELETE FROM t WHERE x % 3 = 0;
SELECT 'deleted', count(*), sum(x) FROM t;
SELECT 'distinct', count(DISTINCT substr(name, 1, 7)) FROM t;
SELECT 'join', count(*) FROM t a JOIN t b ON b.x = a.x + 1 WHERE a.grp = 1;
SELECT 'strings', length(group_concat(name, ',')) FROM (SELECT name FROM t ORDER BY x);
