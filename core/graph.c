#include "graph.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "profile.h"

#define NAME_LEN 128         /* names longer than this are not compared */
#define MAX_WORDS 16         /* words of a column name looked at */
#define MAX_KEYS_PER_TABLE 8 /* candidate keys kept per table */
#define MAX_OVERLAPS 20000L  /* value-overlap computations per graph (each <= 1000 lookups) */
#define MIN_COVERAGE 0.2     /* below this share of a key sampled, overlap says nothing */
#define VALUE_ONLY_MIN_DISTINCT 10

/* ------------------------------------------------------------------------ */
/* JSON helpers                                                             */
/* ------------------------------------------------------------------------ */

/* A JSON string of `s`; bytes that are not valid UTF-8 become '?'. */
static json_t *jstr(const char *s)
{
    json_t *v = json_string(s);
    if (v)
        return v;
    char *copy = strdup(s);
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    v = json_string(copy);
    free(copy);
    return v;
}

static json_t *jstr_or_null(const char *s)
{
    return s ? jstr(s) : json_null();
}

static double round3(double x)
{
    return floor(x * 1000.0 + 0.5) / 1000.0;
}

/* ------------------------------------------------------------------------ */
/* Names                                                                    */
/* ------------------------------------------------------------------------ */

/* Lowercase alphanumerics of `s`; 0 when empty or too long to compare. */
static int norm_name(const char *s, char out[NAME_LEN])
{
    size_t n = 0;
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s))
            continue;
        if (n + 1 >= NAME_LEN)
            return 0;
        out[n++] = (char)tolower((unsigned char)*s);
    }
    out[n] = '\0';
    return n > 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* English singular of a normalized name, good enough for table names. */
static void singular(const char *s, char out[NAME_LEN])
{
    size_t n = strlen(s);
    snprintf(out, NAME_LEN, "%s", s);
    if (n > 3 && ends_with(s, "ies"))
        snprintf(out + n - 3, NAME_LEN - (n - 3), "y");
    else if (n > 4 && (ends_with(s, "sses") || ends_with(s, "xes") || ends_with(s, "ches") ||
                       ends_with(s, "shes") || ends_with(s, "zes")))
        out[n - 2] = '\0';
    else if (n > 2 && s[n - 1] == 's' && !ends_with(s, "ss") && !ends_with(s, "us") &&
             !ends_with(s, "is"))
        out[n - 1] = '\0';
}

/* Words of an identifier: split at separators and camelCase boundaries, lowercased. */
static size_t split_words(const char *name, char words[MAX_WORDS][NAME_LEN])
{
    size_t nwords = 0, len = 0;
    for (const char *p = name;; p++) {
        unsigned char c = (unsigned char)*p;
        int boundary = !c || !isalnum(c);
        /* fooBar | FOOBar: a capital after a lowercase letter or digit, or
           the last capital of a run followed by a lowercase letter. */
        if (!boundary && len > 0 && isupper(c) &&
            (islower((unsigned char)p[-1]) || isdigit((unsigned char)p[-1]) ||
             (isupper((unsigned char)p[-1]) && islower((unsigned char)p[1]))))
            boundary = 2;
        if (boundary && len > 0) {
            words[nwords][len] = '\0';
            if (++nwords == MAX_WORDS)
                return nwords;
            len = 0;
        }
        if (!c)
            return nwords;
        if (isalnum(c) && len + 1 < NAME_LEN)
            words[nwords][len++] = (char)tolower(c);
    }
}

static const char *const key_words[] = {"id", "ref", "key",    "fk", "code",
                                        "no", "num", "number", NULL};

static int in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

/* Key names too common to mean anything when two columns share them. */
static int generic_name(const char *norm)
{
    static const char *const generic[] = {"id",   "key",   "code",   "pk",    "uuid",   "guid",
                                          "oid",  "ref",   "no",     "num",   "number", "name",
                                          "type", "value", "status", "rowid", NULL};
    return in_list(norm, generic);
}

/* What a column's name says about the table it points at. */
struct column_name {
    char norm[NAME_LEN];
    char stem[NAME_LEN]; /* the name without its key word: "customer" of customer_id */
    int has_stem;
    int suffix_is_id;
    int id_like; /* ends (or starts) with a key word */
};

static void concat_words(char words[MAX_WORDS][NAME_LEN], size_t from, size_t to,
                         char out[NAME_LEN])
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = from; i < to && used < NAME_LEN - 1; i++) {
        size_t len = strnlen(words[i], NAME_LEN - 1 - used);
        memcpy(out + used, words[i], len);
        used += len;
        out[used] = '\0';
    }
}

static void column_name_parse(const char *name, struct column_name *cn)
{
    char words[MAX_WORDS][NAME_LEN];
    memset(cn, 0, sizeof(*cn));
    if (!norm_name(name, cn->norm))
        return;
    size_t n = split_words(name, words);
    if (n >= 2 && in_list(words[n - 1], key_words)) {
        concat_words(words, 0, n - 1, cn->stem);
        cn->suffix_is_id = strcmp(words[n - 1], "id") == 0;
        cn->id_like = 1;
    } else if (n >= 2 && (strcmp(words[0], "id") == 0 || strcmp(words[0], "fk") == 0)) {
        concat_words(words, 1, n, cn->stem); /* id_customer, fk_customer */
        cn->suffix_is_id = 1;
        cn->id_like = 1;
    } else if (n == 1 && strlen(cn->norm) > 3 && ends_with(cn->norm, "id")) {
        /* customerid: no boundary to split at, but "id" endings are common enough */
        snprintf(cn->stem, NAME_LEN, "%.*s", (int)strlen(cn->norm) - 2, cn->norm);
        cn->suffix_is_id = 1;
        cn->id_like = 1;
    }
    cn->has_stem = cn->stem[0] != '\0';
}

/* ------------------------------------------------------------------------ */
/* Candidate keys                                                           */
/* ------------------------------------------------------------------------ */

struct key {
    const struct catalog_table *table;
    const struct catalog_column *col;
    size_t table_index;
    int primary;     /* the table's main key: what "<table>_id" points at */
    double coverage; /* share of the key's values its profile saw */
    char norm[NAME_LEN];
    char table_norm[NAME_LEN];
    char table_singular[NAME_LEN];
};

static struct catalog_column *single_pk(const struct catalog_table *t)
{
    struct catalog_column *pk = NULL;
    for (size_t i = 0; i < t->ncolumns; i++) {
        if (t->columns[i].pk_position <= 0)
            continue;
        if (pk)
            return NULL; /* composite */
        pk = &t->columns[i];
    }
    return pk;
}

/* A column whose sample held only distinct, non-null values. */
static int profile_unique(const struct catalog_column *c)
{
    const struct column_profile *p = c->profile;
    return p && p->sampled > 0 && p->nulls == 0 && !p->distinct_capped && p->distinct == p->sampled;
}

static double key_coverage(const struct catalog_table *t, const struct catalog_column *c)
{
    const struct column_profile *p = c->profile;
    if (!p || p->distinct <= 0)
        return 0.0;
    double total = (double)p->distinct;
    if (t->row_estimate > total)
        total = (double)t->row_estimate;
    if (p->distinct_estimate > total)
        total = p->distinct_estimate;
    if (p->distinct_capped && total <= (double)p->distinct)
        total = (double)p->distinct * 2.0; /* more than seen; how many is unknown */
    return (double)p->distinct / total;
}

static int key_add(struct key **keys, size_t *nkeys, size_t *cap, const struct catalog_table *t,
                   size_t ti, const struct catalog_column *c, int primary)
{
    for (size_t i = 0; i < *nkeys; i++)
        if ((*keys)[i].col == c)
            return 0;
    if (*nkeys == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        struct key *grown = realloc(*keys, ncap * sizeof(**keys));
        if (!grown)
            return -1;
        *keys = grown;
        *cap = ncap;
    }
    struct key *k = &(*keys)[*nkeys];
    memset(k, 0, sizeof(*k));
    k->table = t;
    k->col = c;
    k->table_index = ti;
    k->primary = primary;
    k->coverage = key_coverage(t, c);
    if (!norm_name(c->name, k->norm) || !norm_name(t->name, k->table_norm))
        return 0; /* unnamed or overlong: not a candidate */
    singular(k->table_norm, k->table_singular);
    (*nkeys)++;
    return 0;
}

static int table_keys(const struct catalog_table *t, size_t ti, struct key **keys, size_t *nkeys,
                      size_t *cap)
{
    size_t first = *nkeys;
    struct catalog_column *pk = single_pk(t);
    if (pk && key_add(keys, nkeys, cap, t, ti, pk, 1) < 0)
        return -1;
    for (size_t i = 0; i < t->nindexes && *nkeys - first < MAX_KEYS_PER_TABLE; i++) {
        const struct catalog_index *ix = &t->indexes[i];
        if (!ix->unique || ix->ncolumns != 1 || !ix->columns[0])
            continue;
        struct catalog_column *c = catalog_find_column(t, ix->columns[0]);
        if (c && key_add(keys, nkeys, cap, t, ti, c, *nkeys == first) < 0)
            return -1;
    }
    int has_pk = 0;
    for (size_t i = 0; i < t->ncolumns; i++)
        has_pk |= t->columns[i].pk_position > 0;
    if (*nkeys > first || has_pk)
        return 0;
    /* No declared key: id-like columns the sample saw as unique (a name or a
       measure unique by chance is no key). */
    for (size_t i = 0; i < t->ncolumns && *nkeys - first < MAX_KEYS_PER_TABLE; i++) {
        struct catalog_column *c = &t->columns[i];
        struct column_name cn;
        column_name_parse(c->name, &cn);
        if (profile_unique(c) && (strcmp(cn.norm, "id") == 0 || cn.id_like) &&
            key_add(keys, nkeys, cap, t, ti, c, *nkeys == first) < 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Scoring                                                                  */
/* ------------------------------------------------------------------------ */

enum family { FAM_UNKNOWN, FAM_NUMBER, FAM_TEXT, FAM_TIME, FAM_BINARY, FAM_BOOL };

static int type_family(const char *type)
{
    char t[NAME_LEN];
    if (!type || !norm_name(type, t))
        return FAM_UNKNOWN;
    if (strstr(t, "date") || strstr(t, "time"))
        return FAM_TIME;
    if (strstr(t, "bool") || strcmp(t, "bit") == 0)
        return FAM_BOOL;
    if (strstr(t, "blob") || strstr(t, "binary") || strstr(t, "bytea"))
        return FAM_BINARY;
    if (strstr(t, "char") || strstr(t, "text") || strstr(t, "clob") || strstr(t, "string") ||
        strstr(t, "uuid") || strstr(t, "objectid"))
        return FAM_TEXT;
    if (strstr(t, "int") || strstr(t, "num") || strstr(t, "dec") || strstr(t, "real") ||
        strstr(t, "double") || strstr(t, "float") || strstr(t, "serial") || strstr(t, "money") ||
        strstr(t, "long"))
        return FAM_NUMBER;
    return FAM_UNKNOWN;
}

/* A multiplier for joining values of these two declared types (0: never). */
static double type_factor(int a, int b)
{
    if (a == FAM_UNKNOWN || b == FAM_UNKNOWN || a == b)
        return 1.0;
    if ((a == FAM_NUMBER && b == FAM_TEXT) || (a == FAM_TEXT && b == FAM_NUMBER))
        return 0.8; /* "42" and 42 join in loosely typed stores */
    return 0.0;
}

/* 1 when the stem names the key's table: customer -> customers, category -> categories. */
static int stem_names_table(const char *stem, const struct key *k)
{
    char stem_singular[NAME_LEN];
    singular(stem, stem_singular);
    return strcmp(stem, k->table_norm) == 0 || strcmp(stem, k->table_singular) == 0 ||
           strcmp(stem_singular, k->table_singular) == 0;
}

/*
 * How strongly the column's name points at the key, in [0,1]. `table_match`
 * is set when the name points at the key's table (not just a shared name).
 */
static double name_score(const struct column_name *cn, const struct key *k, int *table_match)
{
    double score = 0.0;
    *table_match = 0;
    if (!cn->norm[0])
        return 0.0;
    int generic = generic_name(k->norm);
    if (!generic && strcmp(cn->norm, k->norm) == 0)
        score = 0.9;
    if (k->primary && cn->has_stem) {
        if (stem_names_table(cn->stem, k)) {
            score = fmax(score, cn->suffix_is_id ? 0.95 : 0.85);
            *table_match = 1;
        } else if (strlen(k->table_singular) >= 3 &&
                   (ends_with(cn->stem, k->table_singular) || ends_with(cn->stem, k->table_norm))) {
            score = fmax(score, 0.6); /* billing_customer_id */
            *table_match = 1;
        }
    }
    if (!generic && strlen(k->norm) >= 4 && strlen(cn->norm) > strlen(k->norm) &&
        ends_with(cn->norm, k->norm))
        score = fmax(score, 0.6); /* manager_employee_id -> employee_id */
    return score;
}

/*
 * The share of the column's sampled distinct values found among the key's,
 * scaled up by the share of the key the sample saw. -1 when unknown.
 */
static double value_overlap(const struct catalog_column *c, const struct key *k, long *budget)
{
    const struct column_profile *cp = c->profile, *kp = k->col->profile;
    if (!cp || !kp || !cp->values || !kp->values || cp->distinct <= 0 || kp->distinct <= 0 ||
        k->coverage < MIN_COVERAGE || *budget <= 0)
        return -1.0;
    (*budget)--;
    long hits = 0;
    for (long i = 0; i < cp->distinct; i++)
        hits += profile_has_value(kp, cp->values[i]) != 0;
    double raw = (double)hits / (double)cp->distinct;
    return fmin(1.0, raw / k->coverage);
}

/* Name and values into one confidence; values that do not match sink a name. */
static double combine(double name, double overlap)
{
    if (overlap < 0)
        return 0.6 * name;
    if (name <= 0)
        return 0.55 * overlap;
    double conf = 0.4 * name + 0.6 * overlap;
    if (overlap < 0.5)
        conf *= 2.0 * overlap;
    return conf;
}

/* ------------------------------------------------------------------------ */
/* Declared keys                                                            */
/* ------------------------------------------------------------------------ */

/* The catalog's table a foreign key refers to; SQLite names match in any case. */
static const struct catalog_table *fk_target(const struct catalog *catalog,
                                             const struct catalog_fk *fk)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < catalog->ntables; i++) {
            const struct catalog_table *t = &catalog->tables[i];
            int same_name = pass == 0 ? strcmp(t->name, fk->ref_table) == 0
                                      : strcasecmp(t->name, fk->ref_table) == 0;
            if (same_name &&
                (!fk->ref_schema || !t->schema || strcmp(t->schema, fk->ref_schema) == 0))
                return t;
        }
    }
    return NULL;
}

/* The referenced column `i` of a foreign key: named, or the primary key's i-th. */
static const char *fk_ref_column(const struct catalog_table *target, const struct catalog_fk *fk,
                                 size_t i)
{
    if (fk->ref_columns && fk->ref_columns[i])
        return fk->ref_columns[i];
    for (size_t c = 0; c < target->ncolumns; c++)
        if (target->columns[c].pk_position == (int)i + 1)
            return target->columns[c].name;
    return NULL;
}

static int in_declared_fk(const struct catalog_table *t, const char *column)
{
    for (size_t i = 0; i < t->nfks; i++)
        for (size_t j = 0; j < t->fks[i].ncolumns; j++)
            if (t->fks[i].columns[j] && strcmp(t->fks[i].columns[j], column) == 0)
                return 1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Building                                                                 */
/* ------------------------------------------------------------------------ */

struct builder {
    const struct catalog *catalog;
    char **labels; /* per table */
    /* fk_target() of every foreign key, resolved once (inference asks per candidate
       pair): table i's key j refers to fk_targets[fk_base[i] + j], NULL outside the catalog. */
    size_t *fk_base;
    const struct catalog_table **fk_targets;
    json_t *nodes, *edges;
    struct key *keys;
    size_t nkeys, keys_cap;
    long pairs, overlaps_left;
    int truncated;
};

static int resolve_fk_targets(struct builder *b)
{
    const struct catalog *catalog = b->catalog;
    size_t total = 0;
    b->fk_base = malloc((catalog->ntables ? catalog->ntables : 1) * sizeof(*b->fk_base));
    if (!b->fk_base)
        return -1;
    for (size_t i = 0; i < catalog->ntables; i++) {
        b->fk_base[i] = total;
        total += catalog->tables[i].nfks;
    }
    b->fk_targets = malloc((total ? total : 1) * sizeof(*b->fk_targets));
    if (!b->fk_targets)
        return -1;
    for (size_t i = 0; i < catalog->ntables; i++)
        for (size_t j = 0; j < catalog->tables[i].nfks; j++)
            b->fk_targets[b->fk_base[i] + j] = fk_target(catalog, &catalog->tables[i].fks[j]);
    return 0;
}

static json_t *column_id(const char *label, const char *column)
{
    char *id = NULL;
    if (asprintf(&id, "column:%s.%s", label, column) < 0)
        return NULL;
    json_t *v = jstr(id);
    free(id);
    return v;
}

static json_t *table_id(const char *label)
{
    char *id = NULL;
    if (asprintf(&id, "table:%s", label) < 0)
        return NULL;
    json_t *v = jstr(id);
    free(id);
    return v;
}

static int column_unique(const struct catalog_table *t, const struct catalog_column *c)
{
    if (single_pk(t) == c)
        return 1;
    for (size_t i = 0; i < t->nindexes; i++)
        if (t->indexes[i].unique && t->indexes[i].ncolumns == 1 && t->indexes[i].columns[0] &&
            strcmp(t->indexes[i].columns[0], c->name) == 0)
            return 1;
    return 0;
}

static int add_table_nodes(struct builder *b, size_t ti)
{
    const struct catalog_table *t = &b->catalog->tables[ti];
    const char *label = b->labels[ti];
    json_t *node = json_pack("{s:o, s:s, s:o, s:o, s:o, s:s, s:o, s:o}", "id", table_id(label),
                             "type", "table", "table", jstr(label), "name", jstr(t->name), "schema",
                             jstr_or_null(t->schema), "kind", catalog_kind_name(t->kind), "role",
                             jstr_or_null(t->role), "row_estimate",
                             t->row_estimate >= 0 ? json_integer(t->row_estimate) : json_null());
    if (!node || json_array_append_new(b->nodes, node) < 0)
        return -1;
    for (size_t i = 0; i < t->ncolumns; i++) {
        const struct catalog_column *c = &t->columns[i];
        json_t *col = json_pack("{s:o, s:s, s:o, s:o, s:o, s:o, s:b, s:b, s:o}", "id",
                                column_id(label, c->name), "type", "column", "table", jstr(label),
                                "column", jstr(c->name), "data_type", jstr_or_null(c->type),
                                "semantic_type", jstr_or_null(c->semantic_type), "primary_key",
                                c->pk_position > 0, "unique", column_unique(t, c), "nullable",
                                c->nullable < 0 ? json_null() : json_boolean(c->nullable));
        if (!col || json_array_append_new(b->nodes, col) < 0)
            return -1;
    }
    return 0;
}

static json_t *string_array(const char *const *items, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        if (json_array_append_new(a, jstr(items[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static int add_declared_edges(struct builder *b, size_t ti)
{
    const struct catalog_table *t = &b->catalog->tables[ti];
    for (size_t i = 0; i < t->nfks; i++) {
        const struct catalog_fk *fk = &t->fks[i];
        const struct catalog_table *target = b->fk_targets[b->fk_base[ti] + i];
        if (!target || fk->ncolumns == 0)
            continue; /* outside the catalog: nothing to draw it to */
        size_t target_index = (size_t)(target - b->catalog->tables);
        const char *refs[64];
        int complete = fk->ncolumns <= 64;
        for (size_t j = 0; complete && j < fk->ncolumns; j++)
            complete = fk->columns[j] && (refs[j] = fk_ref_column(target, fk, j)) != NULL;
        if (!complete)
            continue;
        const char *tl = b->labels[target_index];
        json_t *edge = json_pack(
            "{s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:f, s:[s], s:o, s:n, s:n}", "from",
            column_id(b->labels[ti], fk->columns[0]), "to", column_id(tl, refs[0]), "type",
            "foreign_key", "from_table", jstr(b->labels[ti]), "from_columns",
            string_array((const char *const *)fk->columns, fk->ncolumns), "to_table", jstr(tl),
            "to_columns", string_array(refs, fk->ncolumns), "confidence", 1.0, "evidence",
            "declared", "name", jstr_or_null(fk->name), "name_score", "value_overlap");
        if (!edge || json_array_append_new(b->edges, edge) < 0)
            return -1;
    }
    return 0;
}

/* A declared foreign key from (table `fi`, fcol) to (to, tcol), single-column. */
static int declared(const struct builder *b, size_t fi, const char *fcol,
                    const struct catalog_table *to, const char *tcol)
{
    const struct catalog_table *from = &b->catalog->tables[fi];
    for (size_t i = 0; i < from->nfks; i++) {
        const struct catalog_fk *fk = &from->fks[i];
        if (b->fk_targets[b->fk_base[fi] + i] != to)
            continue;
        for (size_t j = 0; j < fk->ncolumns; j++) {
            const char *ref = fk_ref_column(to, fk, j);
            if (fk->columns[j] && ref && strcmp(fk->columns[j], fcol) == 0 &&
                strcmp(ref, tcol) == 0)
                return 1;
        }
    }
    return 0;
}

struct candidate {
    const struct key *key;
    double confidence, name, overlap;
    int ties; /* value-only candidates as good as this one */
};

static void consider(struct builder *b, const struct catalog_table *t,
                     const struct catalog_column *c, const struct column_name *cn, int is_pk,
                     const struct key *k, struct candidate *best)
{
    int table_match;
    if (t->kind == QUARRY_TABLE &&
        (k->table->kind == QUARRY_VIEW || k->table->kind == QUARRY_MATERIALIZED_VIEW))
        return; /* tables do not refer to views */
    double name = name_score(cn, k, &table_match);
    if (is_pk && !table_match)
        name = 0.0; /* two keys sharing a name: which one refers is a guess */
    int id_like =
        cn->id_like || (c->semantic_type && (strcmp(c->semantic_type, "foreign_key") == 0 ||
                                             strcmp(c->semantic_type, "identifier") == 0));
    int value_only = name <= 0 && !is_pk && id_like && k->col->profile &&
                     !k->col->profile->numeric && c->profile &&
                     c->profile->distinct >= VALUE_ONLY_MIN_DISTINCT;
    if (name <= 0 && !value_only)
        return;
    double factor = type_factor(type_family(c->type), type_family(k->col->type));
    if (factor <= 0 || declared(b, k->table_index, k->col->name, t, c->name))
        return;
    double overlap = value_overlap(c, k, &b->overlaps_left);
    if (value_only && overlap < 0.9)
        return;
    double conf = round3(combine(name, overlap) * factor);
    if (conf > best->confidence) {
        *best = (struct candidate){k, conf, name, overlap, 0};
    } else if (value_only && best->name <= 0 && conf == best->confidence) {
        best->ties++;
    }
}

static int add_inferred_edge(struct builder *b, size_t ti, const struct catalog_column *c,
                             const struct candidate *best)
{
    const struct key *k = best->key;
    json_t *evidence = json_array();
    if (!evidence)
        return -1;
    if (best->name > 0)
        json_array_append_new(evidence, json_string("naming"));
    if (best->overlap >= 0)
        json_array_append_new(evidence, json_string("value_overlap"));
    const char *tl = b->labels[k->table_index];
    json_t *edge =
        json_pack("{s:o, s:o, s:s, s:o, s:[o], s:o, s:[o], s:f, s:o, s:n, s:o, s:o}", "from",
                  column_id(b->labels[ti], c->name), "to", column_id(tl, k->col->name), "type",
                  "inferred_join", "from_table", jstr(b->labels[ti]), "from_columns", jstr(c->name),
                  "to_table", jstr(tl), "to_columns", jstr(k->col->name), "confidence",
                  best->confidence, "evidence", evidence, "name", "name_score",
                  best->name > 0 ? json_real(round3(best->name)) : json_null(), "value_overlap",
                  best->overlap >= 0 ? json_real(round3(best->overlap)) : json_null());
    return edge ? json_array_append_new(b->edges, edge) : -1;
}

static int infer_table(struct builder *b, size_t ti)
{
    const struct catalog_table *t = &b->catalog->tables[ti];
    const struct catalog_column *pk = single_pk(t);
    for (size_t i = 0; i < t->ncolumns; i++) {
        const struct catalog_column *c = &t->columns[i];
        int family = type_family(c->type);
        if (in_declared_fk(t, c->name) || family == FAM_BINARY || family == FAM_BOOL)
            continue;
        struct column_name cn;
        column_name_parse(c->name, &cn);
        struct candidate best = {NULL, 0.0, 0.0, -1.0, 0};
        for (size_t k = 0; k < b->nkeys; k++) {
            if (b->keys[k].col == c)
                continue;
            if (++b->pairs > GRAPH_MAX_PAIRS) {
                b->truncated = 1;
                return 0;
            }
            consider(b, t, c, &cn, c == pk, &b->keys[k], &best);
        }
        if (best.key && best.confidence >= GRAPH_MIN_CONFIDENCE && best.ties == 0 &&
            add_inferred_edge(b, ti, c, &best) < 0)
            return -1;
    }
    return 0;
}

static int add_has_column_edges(struct builder *b, size_t ti)
{
    const struct catalog_table *t = &b->catalog->tables[ti];
    for (size_t i = 0; i < t->ncolumns; i++) {
        json_t *edge =
            json_pack("{s:o, s:o, s:s}", "from", table_id(b->labels[ti]), "to",
                      column_id(b->labels[ti], t->columns[i].name), "type", "has_column");
        if (!edge || json_array_append_new(b->edges, edge) < 0)
            return -1;
    }
    return 0;
}

static int build(struct builder *b)
{
    const struct catalog *catalog = b->catalog;
    for (size_t i = 0; i < catalog->ntables; i++)
        if (!(b->labels[i] = catalog_table_label(&catalog->tables[i])))
            return -1;
    if (resolve_fk_targets(b) < 0)
        return -1;
    for (size_t i = 0; i < catalog->ntables; i++)
        if (add_table_nodes(b, i) < 0 ||
            table_keys(&catalog->tables[i], i, &b->keys, &b->nkeys, &b->keys_cap) < 0)
            return -1;
    for (size_t i = 0; i < catalog->ntables; i++)
        if (add_declared_edges(b, i) < 0)
            return -1;
    for (size_t i = 0; i < catalog->ntables && !b->truncated; i++)
        if (infer_table(b, i) < 0)
            return -1;
    for (size_t i = 0; i < catalog->ntables; i++)
        if (add_has_column_edges(b, i) < 0)
            return -1;
    return 0;
}

json_t *graph_build(const struct catalog *catalog)
{
    struct builder b = {.catalog = catalog, .overlaps_left = MAX_OVERLAPS};
    json_t *graph = NULL;
    b.labels = calloc(catalog->ntables ? catalog->ntables : 1, sizeof(char *));
    b.nodes = json_array();
    b.edges = json_array();
    if (b.labels && b.nodes && b.edges && build(&b) == 0) {
        graph =
            json_pack("{s:O, s:O, s:{s:f, s:b}}", "nodes", b.nodes, "edges", b.edges, "inference",
                      "min_confidence", GRAPH_MIN_CONFIDENCE, "truncated", b.truncated);
    }
    for (size_t i = 0; b.labels && i < catalog->ntables; i++)
        free(b.labels[i]);
    free(b.labels);
    free(b.fk_base);
    free(b.fk_targets);
    free(b.keys);
    json_decref(b.nodes);
    json_decref(b.edges);
    return graph;
}

/* ------------------------------------------------------------------------ */
/* Reading a graph back                                                     */
/* ------------------------------------------------------------------------ */

static const char *get_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static int is_join_edge(const json_t *e)
{
    const char *type = get_str(e, "type");
    return type && (strcmp(type, "foreign_key") == 0 || strcmp(type, "inferred_join") == 0);
}

/* "a, b" of a JSON array of strings, into `out`. */
static void join_columns(const json_t *columns, char *out, size_t size)
{
    size_t i;
    json_t *v;
    out[0] = '\0';
    json_array_foreach(columns, i, v)
    {
        const char *s = json_string_value(v);
        size_t used = strlen(out);
        snprintf(out + used, size - used, "%s%s", i ? ", " : "", s ? s : "?");
    }
}

/* ------------------------------------------------------------------------ */
/* Mermaid                                                                  */
/* ------------------------------------------------------------------------ */

#define MERMAID_WORD 96

/* `s` reduced to [A-Za-z0-9_-], starting with a letter or '_' (else `prefix` is put first). */
static void mermaid_word(const char *s, const char *prefix, int allow_dash, char out[MERMAID_WORD])
{
    size_t n = 0;
    if (s && !isalpha((unsigned char)*s) && *s != '_')
        n = (size_t)snprintf(out, MERMAID_WORD, "%s", prefix);
    for (; s && *s && n + 1 < MERMAID_WORD; s++) {
        unsigned char c = (unsigned char)*s;
        out[n++] = (char)(isalnum(c) || c == '_' || (allow_dash && c == '-') ? c : '_');
    }
    while (n > 0 && out[n - 1] == '_')
        n--;
    out[n] = '\0';
    if (n == 0)
        snprintf(out, MERMAID_WORD, "%sx", prefix);
}

/* Entity names by table label, made unique. */
static json_t *mermaid_entities(const json_t *nodes)
{
    json_t *names = json_object(), *used = json_object();
    size_t i;
    json_t *node;
    json_array_foreach(nodes, i, node)
    {
        const char *label = get_str(node, "table");
        const char *type = get_str(node, "type");
        if (!names || !used || !label || !type || strcmp(type, "table") != 0 ||
            json_object_get(names, label))
            continue;
        char base[MERMAID_WORD], name[MERMAID_WORD + 16];
        mermaid_word(label, "t_", 1, base);
        snprintf(name, sizeof(name), "%s", base);
        for (int n = 2; json_object_get(used, name); n++)
            snprintf(name, sizeof(name), "%s_%d", base, n);
        json_object_set_new(used, name, json_true());
        json_object_set_new(names, label, json_string(name));
    }
    json_decref(used);
    return names;
}

/* Column nodes grouped by table label, and the set of "label\ncolumn" that reference a key. */
static void mermaid_index(const json_t *graph, json_t *columns, json_t *fk_columns)
{
    size_t i, j;
    json_t *v, *c;
    json_array_foreach(json_object_get(graph, "nodes"), i, v)
    {
        const char *type = get_str(v, "type"), *label = get_str(v, "table");
        if (!type || !label || strcmp(type, "column") != 0)
            continue;
        json_t *list = json_object_get(columns, label);
        if (!list) {
            list = json_array();
            json_object_set_new(columns, label, list);
        }
        json_array_append(list, v);
    }
    json_array_foreach(json_object_get(graph, "edges"), i, v)
    {
        const char *type = get_str(v, "type"), *label = get_str(v, "from_table");
        if (!type || !label || strcmp(type, "foreign_key") != 0)
            continue;
        json_array_foreach(json_object_get(v, "from_columns"), j, c)
        {
            char *key = NULL;
            if (json_string_value(c) &&
                asprintf(&key, "%s\n%s", label, json_string_value(c)) >= 0) {
                json_object_set_new(fk_columns, key, json_true());
                free(key);
            }
        }
    }
}

static void mermaid_attribute(FILE *out, const char *label, const json_t *col,
                              const json_t *fk_columns)
{
    char type[MERMAID_WORD], name[MERMAID_WORD], *key = NULL;
    const char *cname = get_str(col, "column");
    mermaid_word(get_str(col, "data_type") ? get_str(col, "data_type") : "unknown", "t_", 0, type);
    mermaid_word(cname, "c_", 0, name);
    if (strcmp(name, "PK") == 0 || strcmp(name, "FK") == 0 || strcmp(name, "UK") == 0)
        snprintf(name, sizeof(name), "c_%s", cname); /* not a key marker */
    int pk = json_is_true(json_object_get(col, "primary_key"));
    int fk = cname && asprintf(&key, "%s\n%s", label, cname) >= 0 &&
             json_object_get(fk_columns, key) != NULL;
    free(key);
    fprintf(out, "        %s %s%s%s%s\n", type, name, pk || fk ? " " : "", pk ? "PK" : "",
            fk ? (pk ? ", FK" : "FK") : "");
}

/* A relationship label: printable, without double quotes. */
static void mermaid_label(char *s)
{
    for (; *s; s++)
        if (*s == '"')
            *s = '\'';
        else if ((unsigned char)*s < 0x20)
            *s = ' ';
}

static void mermaid_relationships(FILE *out, const json_t *graph, const json_t *names)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(graph, "edges"), i, e)
    {
        if (!is_join_edge(e))
            continue;
        const char *from = json_string_value(json_object_get(names, get_str(e, "from_table")));
        const char *to = json_string_value(json_object_get(names, get_str(e, "to_table")));
        if (!from || !to)
            continue;
        int inferred = strcmp(get_str(e, "type"), "inferred_join") == 0;
        char label[512];
        join_columns(json_object_get(e, "from_columns"), label, sizeof(label));
        if (inferred) {
            size_t used = strlen(label);
            snprintf(label + used, sizeof(label) - used, " (inferred %.2f)",
                     json_number_value(json_object_get(e, "confidence")));
        }
        mermaid_label(label);
        fprintf(out, "    %s ||%so{ %s : \"%s\"\n", to, inferred ? ".." : "--", from, label);
    }
}

char *graph_to_mermaid(const json_t *graph)
{
    char *text = NULL;
    size_t len = 0;
    json_t *names = mermaid_entities(json_object_get(graph, "nodes"));
    json_t *columns = json_object(), *fk_columns = json_object();
    FILE *out = open_memstream(&text, &len);
    if (!out || !names || !columns || !fk_columns)
        goto fail;
    mermaid_index(graph, columns, fk_columns);
    fputs("erDiagram\n", out);
    const char *label;
    json_t *name;
    json_object_foreach(names, label, name)
    {
        json_t *cols = json_object_get(columns, label);
        if (json_array_size(cols) == 0) {
            fprintf(out, "    %s\n", json_string_value(name));
            continue;
        }
        fprintf(out, "    %s {\n", json_string_value(name));
        size_t i;
        json_t *col;
        json_array_foreach(cols, i, col) mermaid_attribute(out, label, col, fk_columns);
        fputs("    }\n", out);
    }
    mermaid_relationships(out, graph, names);
    if (ferror(out))
        goto fail;
    if (fclose(out) != 0) {
        out = NULL;
        goto fail;
    }
    json_decref(names);
    json_decref(columns);
    json_decref(fk_columns);
    return text;
fail:
    if (out)
        fclose(out);
    free(text);
    json_decref(names);
    json_decref(columns);
    json_decref(fk_columns);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Graphviz                                                                 */
/* ------------------------------------------------------------------------ */

/* A DOT quoted string: quotes and backslashes escaped, control characters as spaces. */
static void dot_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        fputc((unsigned char)*s < 0x20 ? ' ' : *s, out);
    }
    fputc('"', out);
}

static void dot_node(FILE *out, const json_t *node)
{
    const char *type = get_str(node, "type");
    char label[512];
    if (strcmp(type, "table") == 0) {
        const char *role = get_str(node, "role");
        snprintf(label, sizeof(label), "%s%s%s%s", get_str(node, "table"), role ? " (" : "",
                 role ? role : "", role ? ")" : "");
    } else {
        const char *dt = get_str(node, "data_type");
        snprintf(label, sizeof(label), "%s : %s%s", get_str(node, "column") ?: "?", dt ? dt : "?",
                 json_is_true(json_object_get(node, "primary_key")) ? " PK" : "");
    }
    fputs("  ", out);
    dot_quoted(out, get_str(node, "id"));
    fprintf(out, " [shape=%s, label=", strcmp(type, "table") == 0 ? "box" : "ellipse");
    dot_quoted(out, label);
    fputs("];\n", out);
}

static void dot_edge(FILE *out, const json_t *edge)
{
    const char *type = get_str(edge, "type");
    fputs("  ", out);
    dot_quoted(out, get_str(edge, "from"));
    fputs(" -> ", out);
    dot_quoted(out, get_str(edge, "to"));
    if (strcmp(type, "has_column") == 0) {
        fputs(" [arrowhead=none, color=gray];\n", out);
    } else if (strcmp(type, "foreign_key") == 0) {
        fputs(" [label=\"FK\"];\n", out);
    } else {
        fprintf(out, " [style=dashed, color=blue, label=\"%s %.2f\"];\n", "inferred",
                json_number_value(json_object_get(edge, "confidence")));
    }
}

char *graph_to_dot(const json_t *graph)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return NULL;
    fputs("digraph \"quarry\" {\n  graph [rankdir=LR];\n", out);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(graph, "nodes"), i, v)
    {
        if (get_str(v, "id") && get_str(v, "type"))
            dot_node(out, v);
    }
    json_array_foreach(json_object_get(graph, "edges"), i, v)
    {
        if (get_str(v, "from") && get_str(v, "to") && get_str(v, "type"))
            dot_edge(out, v);
    }
    fputs("}\n", out);
    int failed = ferror(out);
    if (fclose(out) != 0 || failed) {
        free(text);
        return NULL;
    }
    return text;
}

/* ------------------------------------------------------------------------ */
/* Join paths                                                               */
/* ------------------------------------------------------------------------ */

struct join_edge {
    size_t a, b;    /* table indexes: from_table, to_table */
    double penalty; /* 0 declared; inferred 1 + (1 - confidence) */
    const json_t *json;
};

struct path_search {
    json_t *index;  /* label -> table index */
    json_t *byname; /* bare name -> table index, or -1 when ambiguous */
    size_t ntables;
    struct join_edge *edges;
    size_t nedges;
    size_t *adj_start, *adj; /* CSR: edge indexes per table */
};

static void search_free(struct path_search *s)
{
    json_decref(s->index);
    json_decref(s->byname);
    free(s->edges);
    free(s->adj_start);
    free(s->adj);
}

static int search_tables(struct path_search *s, const json_t *graph)
{
    size_t i;
    json_t *node;
    s->index = json_object();
    s->byname = json_object();
    if (!s->index || !s->byname)
        return -1;
    json_array_foreach(json_object_get(graph, "nodes"), i, node)
    {
        const char *type = get_str(node, "type"), *label = get_str(node, "table");
        const char *name = get_str(node, "name");
        if (!type || !label || strcmp(type, "table") != 0 || json_object_get(s->index, label))
            continue;
        json_object_set_new(s->index, label, json_integer((json_int_t)s->ntables));
        if (name)
            json_object_set_new(
                s->byname, name,
                json_integer(json_object_get(s->byname, name) ? -1 : (json_int_t)s->ntables));
        s->ntables++;
    }
    return 0;
}

static int search_edges(struct path_search *s, const json_t *graph)
{
    const json_t *edges = json_object_get(graph, "edges");
    s->edges = calloc(json_array_size(edges) + 1, sizeof(*s->edges));
    s->adj_start = calloc(s->ntables + 1, sizeof(size_t));
    if (!s->edges || !s->adj_start)
        return -1;
    size_t i;
    json_t *e;
    json_array_foreach(edges, i, e)
    {
        json_t *a = json_object_get(s->index, get_str(e, "from_table") ?: "");
        json_t *b = json_object_get(s->index, get_str(e, "to_table") ?: "");
        if (!is_join_edge(e) || !a || !b || json_equal(a, b))
            continue;
        struct join_edge *je = &s->edges[s->nedges++];
        je->a = (size_t)json_integer_value(a);
        je->b = (size_t)json_integer_value(b);
        je->json = e;
        je->penalty = strcmp(get_str(e, "type"), "foreign_key") == 0
                          ? 0.0
                          : 2.0 - json_number_value(json_object_get(e, "confidence"));
        s->adj_start[je->a + 1]++;
        s->adj_start[je->b + 1]++;
    }
    for (size_t t = 0; t < s->ntables; t++)
        s->adj_start[t + 1] += s->adj_start[t];
    s->adj = calloc(s->nedges * 2 + 1, sizeof(size_t));
    size_t *fill = calloc(s->ntables + 1, sizeof(size_t));
    if (!s->adj || !fill) {
        free(fill);
        return -1;
    }
    for (size_t k = 0; k < s->nedges; k++) {
        s->adj[s->adj_start[s->edges[k].a] + fill[s->edges[k].a]++] = k;
        s->adj[s->adj_start[s->edges[k].b] + fill[s->edges[k].b]++] = k;
    }
    free(fill);
    return 0;
}

/* A table index by label, or by bare name when only one table has it; -1 otherwise. */
static long resolve_table(const struct path_search *s, const char *label)
{
    json_t *v = json_object_get(s->index, label);
    if (!v)
        v = json_object_get(s->byname, label);
    return v ? (long)json_integer_value(v) : -1;
}

/*
 * Breadth-first, a level at a time: every table of one level is final
 * before the next is expanded, so among the shortest paths each table keeps
 * the predecessor with the smallest summed penalty.
 */
static int bfs(const struct path_search *s, size_t from, size_t to, long *prev_edge)
{
    size_t n = s->ntables;
    long *level = malloc(n * sizeof(long));
    double *penalty = malloc(n * sizeof(double));
    size_t *frontier = malloc(n * sizeof(size_t)), *next = malloc(n * sizeof(size_t));
    int found = -1;
    if (!level || !penalty || !frontier || !next)
        goto out;
    for (size_t i = 0; i < n; i++) {
        level[i] = -1;
        penalty[i] = INFINITY;
        prev_edge[i] = -1;
    }
    size_t nfront = 1, nnext = 0;
    frontier[0] = from;
    level[from] = 0;
    penalty[from] = 0.0;
    for (long d = 0; nfront > 0 && level[to] < 0; d++, nfront = nnext) {
        nnext = 0;
        for (size_t f = 0; f < nfront; f++) {
            size_t u = frontier[f];
            for (size_t k = s->adj_start[u]; k < s->adj_start[u + 1]; k++) {
                const struct join_edge *e = &s->edges[s->adj[k]];
                size_t v = e->a == u ? e->b : e->a;
                if (level[v] >= 0 && level[v] != d + 1)
                    continue;
                if (level[v] < 0) {
                    level[v] = d + 1;
                    next[nnext++] = v;
                }
                if (penalty[u] + e->penalty < penalty[v]) {
                    penalty[v] = penalty[u] + e->penalty;
                    prev_edge[v] = (long)s->adj[k];
                }
            }
        }
        memcpy(frontier, next, nnext * sizeof(size_t));
    }
    found = level[to] >= 0 ? 1 : 0;
out:
    free(level);
    free(penalty);
    free(frontier);
    free(next);
    return found;
}

static json_t *path_step(const struct join_edge *e, int forward)
{
    const json_t *j = e->json;
    const char *ft = forward ? "from_table" : "to_table", *tt = forward ? "to_table" : "from_table";
    const char *fc = forward ? "from_columns" : "to_columns";
    const char *tc = forward ? "to_columns" : "from_columns";
    return json_pack("{s:s, s:o, s:s, s:o, s:s, s:O}", "from_table", get_str(j, ft), "from_columns",
                     json_deep_copy(json_object_get(j, fc)), "to_table", get_str(j, tt),
                     "to_columns", json_deep_copy(json_object_get(j, tc)), "type",
                     get_str(j, "type"), "confidence", json_object_get(j, "confidence"));
}

static json_t *path_steps(const struct path_search *s, size_t from, size_t to,
                          const long *prev_edge)
{
    json_t *steps = json_array();
    for (size_t v = to; steps && v != from;) {
        const struct join_edge *e = &s->edges[prev_edge[v]];
        size_t u = e->a == v ? e->b : e->a;
        json_t *step = path_step(e, e->a == u);
        if (!step || json_array_insert_new(steps, 0, step) < 0) {
            json_decref(steps);
            return NULL;
        }
        v = u;
    }
    return steps;
}

json_t *graph_join_path(const json_t *graph, const char *from_label, const char *to_label)
{
    struct path_search s;
    memset(&s, 0, sizeof(s));
    json_t *steps = NULL;
    long *prev = NULL;
    if (!graph || !from_label || !to_label || search_tables(&s, graph) < 0 ||
        search_edges(&s, graph) < 0)
        goto out;
    long from = resolve_table(&s, from_label), to = resolve_table(&s, to_label);
    if (from < 0 || to < 0)
        goto out;
    prev = malloc(s.ntables * sizeof(long));
    if (prev && bfs(&s, (size_t)from, (size_t)to, prev) == 1)
        steps = path_steps(&s, (size_t)from, (size_t)to, prev);
out:
    free(prev);
    search_free(&s);
    return steps;
}
