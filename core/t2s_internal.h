/* Shared between the t2s_*.c files only: the normalised question and its links. */
#ifndef QUARRY_T2S_INTERNAL_H
#define QUARRY_T2S_INTERNAL_H

#include <stddef.h>

#include "catalog.h"

#define T2S_MAX_TOKENS 160
#define T2S_WORD 64    /* bytes of one token */
#define T2S_PHRASE 160 /* bytes of a name as words */
#define T2S_MAX_LINKS 96

enum t2s_kind { T2S_TK_WORD = 0, T2S_TK_NUMBER, T2S_TK_QUOTED };

struct t2s_token {
    int kind;
    char text[T2S_WORD]; /* lower case ("quoted" keeps its case here) */
    char stem[T2S_WORD]; /* singular: "songs" -> "song" */
    char orig[T2S_WORD]; /* as written */
    double number;       /* T2S_TK_NUMBER */
    int month;           /* 1..12 for a month name, else 0 */
    int used;            /* taken by a construct or a link */
};

struct t2s_question {
    struct t2s_token tok[T2S_MAX_TOKENS];
    size_t n;
    int truncated;
};

/* Splits and normalises; 0, or -1 when the question holds no word at all. */
int t2s_normalize_(const char *question, struct t2s_question *out);
/* "InvoiceLine" / "invoice_line" -> "invoice line" (lower case, words singular when `stem`). */
void t2s_words_(const char *name, int stem, char out[T2S_PHRASE]);
/* The singular of a lower-case word ("countries" -> "country"). */
void t2s_stem_(const char *word, char out[T2S_WORD]);
/* A common synonym of a stem as schemas name it ("song" -> "track"), or NULL. */
const char *t2s_synonym_(const char *stem);
/* 1 for words that carry no schema meaning ("the", "of", "show" ...). */
int t2s_stopword_(const char *word);

enum t2s_link_kind { T2S_LINK_TABLE = 1, T2S_LINK_COLUMN, T2S_LINK_VALUE };

struct t2s_link {
    int kind;
    size_t start, len;                   /* tokens */
    size_t table;                        /* index in the catalog */
    const struct catalog_column *column; /* COLUMN (best guess), VALUE */
    char phrase[T2S_PHRASE];             /* COLUMN: the words, resolved per table later */
    const char *value;                   /* VALUE: the profile's value, borrowed */
    double score;                        /* 0..1, how well the words fit */
    int ambiguous;                       /* another table fit as well */
};

struct t2s_links {
    struct t2s_link l[T2S_MAX_LINKS];
    size_t n;
};

/* Links the unused tokens of `q` (marks them used); links are in question order. */
void t2s_link_(const struct catalog *catalog, struct t2s_question *q, struct t2s_links *out);

/*
 * How well `phrase` (stemmed words) names a column of table `t`: 1 exact
 * (with or without the table's own name as a prefix), 0.75 for the last
 * word(s) of the name, 0 when it does not.
 */
double t2s_column_fit_(const struct catalog_table *t, const struct catalog_column *c,
                       const char *phrase);

#endif
