/*
 * The text of export documents: a growable buffer, and database values
 * written into it as JSONL values or markdown table cells, each capped to a
 * cell's budget (a longer value is cut at a UTF-8 boundary and marked),
 * text that is not UTF-8 written as base64 of its bytes.
 */
#ifndef QUARRY_EXPORT_TEXT_H
#define QUARRY_EXPORT_TEXT_H

#include <stddef.h>

#include "quarry/driver.h"

enum export_format { EXPORT_MARKDOWN, EXPORT_JSONL };

/* "markdown" or "jsonl". */
const char *export_format_name(int format);

/* A growable, NUL-terminated text; zero-initialise one. */
struct export_text {
    char *data;
    size_t len, cap;
    int failed; /* out of memory: the content is incomplete */
};

/* Appends; out of memory sets `failed` and drops the bytes. */
void export_text_add(struct export_text *t, const char *s, size_t n);
void export_text_str(struct export_text *t, const char *s);
void export_text_char(struct export_text *t, char c);
/* Empties `t`, keeping its room. */
void export_text_clear(struct export_text *t);
void export_text_free(struct export_text *t);
/* Takes the text out of `t` (caller frees), leaving it empty with as much room as before. */
char *export_text_take(struct export_text *t, size_t *len);

/* Where to cut `s` to at most `cap` bytes without splitting a UTF-8 sequence (`s` longer). */
size_t export_text_utf8_cut(const char *s, size_t cap);

/* Text into a markdown table cell (`|` escaped, line breaks as <br>); 0, or -1 if not UTF-8. */
int export_text_markdown(struct export_text *out, const char *s, size_t n);

/* How one column's values are written; zero-initialise, then set `format` and `cap`. */
struct export_cells {
    int format;
    size_t cap;                 /* bytes of one value */
    struct export_text scratch; /* a cut value with its marker */
};

/* Appends value `v` as `cw` writes it (JSONL value, or markdown cell content). */
void export_cells_value(struct export_cells *cw, struct export_text *out,
                        const struct quarry_value *v);

#endif
