/*
 * The built-in text-to-SQL engine: offline, deterministic, pure CPU. It
 * reads an analysed catalog (semantic types, roles, profiles) and its
 * knowledge graph, and turns an English question into one SELECT in the
 * catalog's dialect, or a MongoDB aggregate command for document stores,
 * through sqlgen (which owns all syntax and literal quoting).
 *
 * Stages: normalise the question (t2s_normalize.c: case, tokens, singular
 * forms, numbers and dates written as words, synonyms), link its phrases to
 * tables, columns and sampled values (t2s_link.c), then compose the query
 * (t2s_compose.c): counts, aggregates, grouping, comparisons and date
 * ranges, equality on linked values, negation, superlatives and top-N,
 * ordering, DISTINCT, HAVING, and one level of nesting, joined along the
 * graph's shortest join paths.
 *
 * Confidence is a product of penalties for what the engine had to guess
 * (words it could not place, ambiguous links, defaults it fell back on), so
 * an answer below 0.8 is one to check, or to hand to another engine.
 */
#ifndef QUARRY_T2S_H
#define QUARRY_T2S_H

#include <jansson.h>

#include "catalog.h"

#define T2S_MAX_QUESTION 2000 /* bytes; longer questions are refused */

struct t2s_answer {
    char *query;       /* SQL, or the MongoDB command as JSON text; NULL when none */
    double confidence; /* [0,1]; low when unsure, 0 when there is no query */
    char *explanation; /* what was understood, or why nothing was */
    json_t *tables;    /* labels of the tables used */
    json_t *columns;   /* "table.column" used */
};

/*
 * Translates `question` for `catalog` (borrowed; `graph` from graph_build on
 * it, borrowed, may be NULL: no joins then). `limit` > 0 is applied in the
 * query (LIMIT/TOP/FETCH per dialect) unless the question asks for fewer
 * rows. Returns 0 with `out` filled (caller clears it with t2s_answer_clear),
 * or -1 when nothing sensible came out: then query is NULL, confidence 0 and
 * the explanation says why (NULL only when out of memory).
 */
int t2s_translate(const struct catalog *catalog, const json_t *graph, const char *question,
                  long limit, struct t2s_answer *out);
void t2s_answer_clear(struct t2s_answer *answer);

/*
 * A catalog rebuilt from a stored snapshot (semantic.h's JSON): tables,
 * columns with their semantic types, primary keys, foreign keys (declared
 * and inferred), roles, descriptions, and a profile per column carrying the
 * snapshot's min/max and top values, so the engine works from the registry
 * without reconnecting. NULL when the snapshot is malformed or out of
 * memory. Caller frees with catalog_free.
 */
struct catalog *t2s_catalog_from_snapshot(const json_t *snapshot, const char *dialect,
                                          char identifier_quote, int limit_style);

/*
 * The labels of the tables the linker finds relevant to `question` (for an
 * LLM's pruned schema), best first, at most `max`, with the tables on the
 * join paths between them. NULL out of memory. Caller owns the array.
 */
json_t *t2s_relevant_tables(const struct catalog *catalog, const json_t *graph,
                            const char *question, size_t max);

#endif
