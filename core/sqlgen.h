/*
 * A small structured query and its rendering in a catalog's dialect: SQL for
 * "sqlite", "postgresql", "mysql" (and ANSI forms for other SQL dialects), or
 * a MongoDB aggregate command for "mongodb". It is the back end of the
 * text-to-SQL engine and of the sample queries: callers say what to select,
 * join, filter, group and order; this module owns every byte of syntax.
 *
 * Safety: every identifier goes through catalog_quote; every literal is
 * validated (numbers, booleans, dates by shape; text must be UTF-8) and
 * rendered as a literal of the dialect (quotes doubled; backslashes doubled
 * for MySQL; PostgreSQL text holding a backslash as E'...'), or as a JSON
 * value for MongoDB. Nothing a caller passes is pasted in raw.
 *
 * The query owns copies of every string handed to it. Builder calls return
 * 0, or -1 when an argument is invalid or a bound is reached; the first such
 * error sticks to the query and sqlgen_render reports it, so a caller may
 * build first and check once.
 *
 *   struct sqlgen_query *q = sqlgen_new(NULL, "Invoice", "i");
 *   sqlgen_join(q, SQLGEN_JOIN_INNER, NULL, "Customer", "c", "i", 1,
 *               (const char *[]){"CustomerId"}, (const char *[]){"CustomerId"});
 *   sqlgen_select(q, &(struct sqlgen_term){"c", "Country"}, NULL);
 *   sqlgen_select(q, &(struct sqlgen_term){"i", "Total", SQLGEN_SUM}, "total");
 *   sqlgen_group_by(q, &(struct sqlgen_term){"c", "Country"});
 *   sqlgen_order_by_output(q, "total", 1);
 *   sqlgen_limit(q, 5);
 *   char *sql = sqlgen_render(q, catalog, &err);   // caller frees
 *   sqlgen_free(q);
 *
 * SQL shape: SELECT [DISTINCT] [TOP n] items FROM t AS a [INNER|LEFT JOIN u
 * AS b ON a.x = b.y AND ...] [WHERE c AND ...] [GROUP BY ...] [HAVING c AND
 * ...] [ORDER BY ...] [LIMIT n | FETCH FIRST n ROWS ONLY]. No items selects *.
 *
 * MongoDB shape: {"aggregate": "<collection>", "pipeline": [...]} with, in
 * order, $lookup + $unwind per join (one column, equality, same database;
 * inner joins drop unmatched documents, left joins keep them), $match for
 * WHERE, then either (grouped: an aggregate, GROUP BY or DISTINCT)
 * $group, $project, $match for HAVING, $sort, $limit, or (not grouped)
 * $sort, $limit, $project. Fields of joined collections live under the
 * join's alias ("c.name"). Output names are the items' `as`, else derived
 * (column path with '.' as '_', "count", "sum_<column>", ...). What MongoDB
 * cannot express here (multi-column joins, date parts in WHERE, HAVING or
 * ORDER BY on something not selected in a grouped query) is refused with
 * QUARRY_ERR_UNSUPPORTED.
 */
#ifndef QUARRY_SQLGEN_H
#define QUARRY_SQLGEN_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"

/* Bounds on what one query may hold. */
#define SQLGEN_MAX_ITEMS 64 /* per list: select, where, group, having, order */
#define SQLGEN_MAX_JOINS 16
#define SQLGEN_MAX_JOIN_COLUMNS 8
#define SQLGEN_MAX_VALUES 100     /* values of one IN */
#define SQLGEN_MAX_TEXT 4096      /* bytes of one text literal */
#define SQLGEN_MAX_IDENTIFIER 256 /* bytes of one name */
#define SQLGEN_MAX_LIMIT 1000000000

enum sqlgen_agg {
    SQLGEN_AGG_NONE = 0,
    SQLGEN_COUNT,          /* COUNT(x); COUNT(*) when the column is NULL */
    SQLGEN_COUNT_DISTINCT, /* COUNT(DISTINCT x) */
    SQLGEN_SUM,
    SQLGEN_AVG,
    SQLGEN_MIN,
    SQLGEN_MAX
};

enum sqlgen_part { SQLGEN_PART_NONE = 0, SQLGEN_YEAR, SQLGEN_MONTH, SQLGEN_DAY };

/*
 * A column reference, optionally reduced to a date part and then
 * aggregated. `table` is the alias of the FROM table or a join (or the
 * table's name where no alias was given); NULL leaves the column
 * unqualified. `column` NULL means "*" and is only valid with SQLGEN_COUNT.
 */
struct sqlgen_term {
    const char *table;
    const char *column;
    int agg;  /* enum sqlgen_agg */
    int part; /* enum sqlgen_part, applied before the aggregate */
};

enum sqlgen_op {
    SQLGEN_EQ = 0,
    SQLGEN_NE,
    SQLGEN_LT,
    SQLGEN_LE,
    SQLGEN_GT,
    SQLGEN_GE,
    SQLGEN_IN,          /* one or more values */
    SQLGEN_CONTAINS,    /* text contains the value, case-insensitive where the dialect can */
    SQLGEN_STARTS_WITH, /* text starts with the value */
    SQLGEN_IS_NULL,     /* no value */
    SQLGEN_IS_NOT_NULL  /* no value */
};

enum sqlgen_value_type {
    SQLGEN_TEXT = 0,
    SQLGEN_NUMBER,   /* -?digits[.digits][e[+-]digits] */
    SQLGEN_BOOL,     /* "true"/"false"/"1"/"0" */
    SQLGEN_DATE,     /* YYYY-MM-DD */
    SQLGEN_TIMESTAMP /* YYYY-MM-DD[ T]HH:MM[:SS[.fff]][Z], UTC or naive */
};

/* A literal: its type and its text (borrowed for the call; the query copies it). */
struct sqlgen_value {
    int type; /* enum sqlgen_value_type */
    const char *text;
};

enum sqlgen_join_type { SQLGEN_JOIN_INNER = 0, SQLGEN_JOIN_LEFT };

struct sqlgen_query;

/* A query on one table (`schema` NULL where there is none; `alias` may be NULL). */
struct sqlgen_query *sqlgen_new(const char *schema, const char *table, const char *alias);
void sqlgen_free(struct sqlgen_query *query);

/*
 * Joins `table` AS `alias` ON left.left_columns[i] = alias.right_columns[i]
 * for each i; `left` names the FROM table or an earlier join.
 */
int sqlgen_join(struct sqlgen_query *query, int type, const char *schema, const char *table,
                const char *alias, const char *left, size_t ncolumns,
                const char *const *left_columns, const char *const *right_columns);

/* Adds a select item, named `as` in the result (NULL: the dialect's default). */
int sqlgen_select(struct sqlgen_query *query, const struct sqlgen_term *term, const char *as);
/* SELECT DISTINCT. */
int sqlgen_distinct(struct sqlgen_query *query);

/* Adds a condition, ANDed with the others; aggregates are refused here. */
int sqlgen_where(struct sqlgen_query *query, const struct sqlgen_term *term, int op,
                 const struct sqlgen_value *values, size_t nvalues);
int sqlgen_group_by(struct sqlgen_query *query, const struct sqlgen_term *term);
/* A condition on an aggregate, ANDed with the others. */
int sqlgen_having(struct sqlgen_query *query, const struct sqlgen_term *term, int op,
                  const struct sqlgen_value *values, size_t nvalues);

/*
 * A condition comparing `term` with the single value of `sub`, an
 * uncorrelated query (term > (SELECT AVG(x) FROM t)), or with its rows for
 * SQLGEN_IN; `op` is a comparison (SQLGEN_EQ .. SQLGEN_GE) or SQLGEN_IN.
 * Takes ownership of `sub`, even on failure. One level only: `sub` holds no
 * subquery itself and selects exactly one item. SQL dialects only: MongoDB
 * rendering refuses it with QUARRY_ERR_UNSUPPORTED.
 */
int sqlgen_where_subquery(struct sqlgen_query *query, const struct sqlgen_term *term, int op,
                          struct sqlgen_query *sub);

/* Orders by an expression, or by the output name of a select item. */
int sqlgen_order_by(struct sqlgen_query *query, const struct sqlgen_term *term, int descending);
int sqlgen_order_by_output(struct sqlgen_query *query, const char *as, int descending);

/* At most `n` rows, 1 <= n <= SQLGEN_MAX_LIMIT. */
int sqlgen_limit(struct sqlgen_query *query, int64_t n);

/*
 * The statement for `catalog`'s dialect (SQL text, or the MongoDB command
 * as JSON text), or NULL with `err` filled (QUARRY_ERR_INVALID for a bad
 * query, QUARRY_ERR_UNSUPPORTED for what the dialect cannot express,
 * QUARRY_ERR_NOMEM). Caller frees.
 */
char *sqlgen_render(const struct sqlgen_query *query, const struct catalog *catalog,
                    struct quarry_error *err);

/* 1 when `catalog` describes a document store rendered as MongoDB pipelines. */
int sqlgen_is_mongodb(const struct catalog *catalog);

#endif
