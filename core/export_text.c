#include "export_text.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

const char *export_format_name(int format)
{
    return format == EXPORT_JSONL ? "jsonl" : "markdown";
}

/* Room for `extra` more bytes and the NUL; 0, or -1 (and `failed` set) when out of memory. */
static int export_text_reserve(struct export_text *t, size_t extra)
{
    if (t->len + extra + 1 <= t->cap)
        return 0;
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->len + extra + 1)
        cap *= 2;
    char *grown = realloc(t->data, cap);
    if (!grown) {
        t->failed = 1;
        return -1;
    }
    t->data = grown;
    t->cap = cap;
    return 0;
}

void export_text_add(struct export_text *t, const char *s, size_t n)
{
    if (export_text_reserve(t, n) != 0)
        return;
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

void export_text_str(struct export_text *t, const char *s)
{
    export_text_add(t, s, strlen(s));
}

void export_text_char(struct export_text *t, char c)
{
    export_text_add(t, &c, 1);
}

void export_text_clear(struct export_text *t)
{
    t->len = 0;
    t->failed = 0;
    if (t->data)
        t->data[0] = '\0';
}

void export_text_free(struct export_text *t)
{
    free(t->data);
    memset(t, 0, sizeof(*t));
}

char *export_text_take(struct export_text *t, size_t *len)
{
    char *data = t->data;
    size_t cap = t->cap;
    *len = t->len;
    memset(t, 0, sizeof(*t));
    if (cap)
        export_text_reserve(t, cap - 1);
    return data;
}

/* ------------------------------------------------------------------------ */
/* Values                                                                   */
/* ------------------------------------------------------------------------ */

/* The shortest of %.15g and %.17g that reads back as the same double. */
static void format_double(double d, char *buf, size_t size)
{
    snprintf(buf, size, "%.15g", d);
    if (strtod(buf, NULL) != d)
        snprintf(buf, size, "%.17g", d);
}

/* 1 when `s` is printable ASCII that JSON takes as it is (no quote, backslash, control). */
static int plain_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
            return 0;
    }
    return 1;
}

size_t export_text_utf8_cut(const char *s, size_t cap)
{
    while (cap > 0 && ((unsigned char)s[cap] & 0xC0) == 0x80)
        cap--;
    return cap;
}

/* An integer in decimal: printf's generality costs more than the rest of a row. */
static void add_int(struct export_text *out, int64_t value)
{
    char digits[24];
    size_t n = 0;
    uint64_t u = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (export_text_reserve(out, n + 1) != 0)
        return;
    if (value < 0)
        out->data[out->len++] = '-';
    while (n)
        out->data[out->len++] = digits[--n];
    out->data[out->len] = '\0';
}

static void add_base64(struct export_text *out, const char *bin, size_t n)
{
    size_t size = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    if (export_text_reserve(out, size) != 0)
        return;
    sodium_bin2base64(out->data + out->len, size, (const unsigned char *)bin, n,
                      sodium_base64_VARIANT_ORIGINAL);
    out->len += size - 1;
}

/* Text as a JSON string; 0, or -1 when it is not valid UTF-8. */
static int add_json_string(struct export_text *out, const char *s, size_t n)
{
    if (plain_ascii(s, n)) {
        if (export_text_reserve(out, n + 2) != 0)
            return 0;
        out->data[out->len++] = '"';
        memcpy(out->data + out->len, s, n);
        out->len += n;
        out->data[out->len++] = '"';
        out->data[out->len] = '\0';
        return 0;
    }
    json_t *str = json_stringn(s, n); /* NULL for invalid UTF-8 */
    if (!str)
        return -1;
    /* Escaping grows a byte to at most six ("\u001f"). */
    size_t room = n * 6 + 3;
    if (export_text_reserve(out, room) == 0) {
        size_t used = json_dumpb(str, out->data + out->len, room, JSON_ENCODE_ANY);
        if (used > 0 && used <= room)
            out->len += used;
        out->data[out->len] = '\0';
    }
    json_decref(str);
    return 0;
}

/* Bytes a markdown cell cannot hold as they are: `|`, line breaks, and (to check) non-ASCII. */
static int markdown_special(unsigned char c)
{
    return c == '|' || c == '\n' || c == '\r' || c >= 0x80;
}

/* Text into a markdown table cell; 0, or -1 when it is not valid UTF-8. */
int export_text_markdown(struct export_text *out, const char *s, size_t n)
{
    size_t plain = 0;
    while (plain < n && !markdown_special((unsigned char)s[plain]))
        plain++;
    if (plain == n) { /* the common case: nothing to escape */
        export_text_add(out, s, n);
        return 0;
    }
    json_t *checked = NULL;
    for (size_t i = plain; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) {
            if (!(checked = json_stringn(s, n)))
                return -1;
            json_decref(checked);
            break;
        }
    if (export_text_reserve(out, n * 4) != 0)
        return 0;
    memcpy(out->data + out->len, s, plain);
    out->len += plain;
    for (size_t i = plain; i < n; i++) {
        char c = s[i];
        if (c == '|') {
            out->data[out->len++] = '\\';
            out->data[out->len++] = '|';
        } else if (c == '\n') {
            memcpy(out->data + out->len, "<br>", 4);
            out->len += 4;
        } else if (c != '\r') {
            out->data[out->len++] = c;
        }
    }
    out->data[out->len] = '\0';
    return 0;
}

static void add_text(struct export_cells *cw, struct export_text *out, const char *s, size_t n);

static void add_binary(struct export_cells *cw, struct export_text *out, const char *bin, size_t n)
{
    if (n / 3 * 4 > cw->cap) {
        char note[96];
        snprintf(note, sizeof(note), "[binary: %zu bytes, over the export's cell limit]", n);
        add_text(cw, out, note, strlen(note));
        return;
    }
    if (cw->format == EXPORT_JSONL)
        export_text_char(out, '"');
    add_base64(out, bin, n);
    if (cw->format == EXPORT_JSONL)
        export_text_char(out, '"');
}

static void add_text(struct export_cells *cw, struct export_text *out, const char *s, size_t n)
{
    if (n > cw->cap) {
        size_t cut = export_text_utf8_cut(s, cw->cap);
        char marker[64];
        snprintf(marker, sizeof(marker), " [truncated: %zu bytes]", n);
        export_text_clear(&cw->scratch);
        export_text_add(&cw->scratch, s, cut);
        export_text_str(&cw->scratch, marker);
        s = cw->scratch.data;
        n = cw->scratch.len;
    }
    int rc =
        cw->format == EXPORT_JSONL ? add_json_string(out, s, n) : export_text_markdown(out, s, n);
    if (rc != 0) /* not UTF-8: bytes, then */
        add_binary(cw, out, s, n);
}

static void add_json_value(struct export_cells *cw, struct export_text *out, const char *s,
                           size_t n)
{
    if (cw->format == EXPORT_JSONL && n <= cw->cap) {
        json_t *value = json_loadb(s, n, JSON_DECODE_ANY, NULL);
        if (value) {
            char *compact = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
            json_decref(value);
            if (compact) {
                export_text_str(out, compact);
                free(compact);
                return;
            }
        }
    }
    add_text(cw, out, s, n); /* markdown, too long, or not JSON after all: as text */
}

void export_cells_value(struct export_cells *cw, struct export_text *out,
                        const struct quarry_value *v)
{
    char num[40];
    int jsonl = cw->format == EXPORT_JSONL;
    switch (v->type) {
    case QUARRY_VALUE_NULL:
        if (jsonl)
            export_text_str(out, "null");
        return;
    case QUARRY_VALUE_INT:
        add_int(out, v->i);
        return;
    case QUARRY_VALUE_DOUBLE:
        if (isfinite(v->d))
            format_double(v->d, num, sizeof(num));
        else
            snprintf(num, sizeof(num), "%s", jsonl ? "null" : (isnan(v->d) ? "NaN" : "Infinity"));
        export_text_str(out, num);
        return;
    case QUARRY_VALUE_BOOL:
        export_text_str(out, v->i ? "true" : "false");
        return;
    case QUARRY_VALUE_BLOB:
        add_binary(cw, out, v->str ? v->str : "", v->str ? v->len : 0);
        return;
    case QUARRY_VALUE_JSON:
        add_json_value(cw, out, v->str ? v->str : "", v->str ? v->len : 0);
        return;
    default: /* text, decimal, timestamp, date, and types this build does not know */
        add_text(cw, out, v->str ? v->str : "", v->str ? v->len : 0);
    }
}
