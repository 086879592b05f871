/*
 * The first gate in front of every generated or user-given query: only one
 * read-only statement passes. This module lexes SQL (no regexes) the way each
 * database does, then checks the token stream:
 *
 *   - exactly one statement (trailing semicolons allowed);
 *   - it begins with SELECT, WITH, VALUES, or (PostgreSQL, MySQL) TABLE,
 *     possibly inside parentheses;
 *   - every WITH query (CTE) body is a SELECT/VALUES/TABLE/WITH, and the
 *     statement after the CTE list is one too: no data-modifying CTEs;
 *   - no INTO anywhere (SELECT ... INTO t, INTO OUTFILE/DUMPFILE, INTO @v),
 *     no locking clause (FOR UPDATE/SHARE, FOR NO KEY UPDATE, FOR KEY SHARE,
 *     LOCK IN SHARE MODE), no INSERT/UPDATE/DELETE/MERGE opening a
 *     parenthesised query;
 *   - no call of a function that reads files or the network, sleeps, takes
 *     locks, or changes server state (pg_read_file, dblink*, lo_*, pg_sleep,
 *     set_config, nextval, load_file, sleep, benchmark, get_lock,
 *     load_extension, readfile, ...). The deny list is the union over every
 *     dialect: a name that is harmless elsewhere is refused everywhere.
 *
 * Lexing per dialect ("postgresql", "mysql", "sqlite"; anything else lexes
 * as standard SQL):
 *   postgresql  '...' with '' (and E'...' with backslash escapes),
 *               "..." identifiers, $tag$...$tag$, nested comments, and
 *               U&"..." identifiers refused (they can spell any name).
 *   mysql       '...' and "..." strings with '' and backslash escapes,
 *               `...` identifiers, # comments, "-- " only with a space after
 *               the dashes (as the server reads it), executable comments
 *               (slash-star-bang) refused.
 *   sqlite      '...', "..." / `...` / [...] identifiers, non-nested comments.
 * PostgreSQL (standard_conforming_strings) and MySQL (NO_BACKSLASH_ESCAPES)
 * can read a backslash before a quote either way depending on server
 * settings; a statement passes only if it passes under both readings, so a
 * quote inside a string must be escaped by doubling it ('').
 *
 * The databases enforce read-only themselves too (the drivers run read-only
 * sessions and single statements); this gate gives clear 422 reasons.
 * Everything is bounded: SQLSAFETY_MAX_LEN bytes, SQLSAFETY_MAX_DEPTH
 * nested parentheses. Thread-safe; no global state.
 */
#ifndef QUARRY_SQLSAFETY_H
#define QUARRY_SQLSAFETY_H

#include <stddef.h>

#define SQLSAFETY_MAX_LEN (100 * 1024)
#define SQLSAFETY_MAX_DEPTH 128

struct sqlsafety_verdict {
    int ok;           /* 1: one read-only query; 0: refused */
    char reason[256]; /* why it was refused (empty when ok); quotes no more than a keyword */
};

/*
 * Checks `sql` for `dialect` ("postgresql", "mysql", "sqlite"; NULL or other
 * names lex as standard SQL; "mongodb" is refused: use
 * sqlsafety_check_pipeline). Returns 1 when `sql` is one read-only query, 0
 * when refused; `out` (may be NULL) gets the verdict either way.
 */
int sqlsafety_check(const char *sql, const char *dialect, struct sqlsafety_verdict *out);

/*
 * The statement from its first token to its last, without leading or
 * trailing whitespace, comments and semicolons: ready to wrap or to append
 * a clause to. Caller frees. NULL when `sql` does not lex (unterminated
 * string or comment, too long) or holds no statement.
 */
char *sqlsafety_normalize(const char *sql, const char *dialect);

/*
 * The normalized statement with a row limit the database applies itself.
 * A SELECT or WITH ... SELECT without a top-level LIMIT/OFFSET/FETCH gets
 * "LIMIT n" appended (keeps ORDER BY and column names exactly); anything
 * else is wrapped:
 *   SELECT * FROM (<sql>) AS quarry_q LIMIT n
 * (for dialects other than the three above, FETCH FIRST n ROWS ONLY).
 * `limit` <= 0 returns the normalized statement unchanged. Call it on a
 * statement sqlsafety_check accepted. Caller frees; NULL as for normalize.
 */
char *sqlsafety_limit(const char *sql, const char *dialect, long limit);

/*
 * MongoDB: checks one command as JSON text, the form the mongodb driver
 * executes: {"find": "<collection>", ...} or {"aggregate": "<collection>",
 * "pipeline": [...], ...}. Refuses any other command, $out and $merge at any
 * depth, and server-side JavaScript ($where, $function, $accumulator).
 * Bounded like SQL (SQLSAFETY_MAX_LEN, SQLSAFETY_MAX_DEPTH). Returns 1 when
 * acceptable; `out` as for sqlsafety_check.
 */
int sqlsafety_check_pipeline(const char *json_text, struct sqlsafety_verdict *out);

#endif
