/*
 * COPY's text format, one row at a time: fields split on tabs in place,
 * `\N` as NULL, backslash escapes undone. Kept apart from the reading loop
 * so that it can be fuzzed on its own: the bytes come from the target
 * database, which Quarry does not control.
 */
#include <string.h>

#include "pg_internal.h"

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int is_octal(char c)
{
    return c >= '0' && c <= '7';
}

/*
 * Undoes COPY's backslash escapes in place, as the server's COPY FROM reads
 * them: \b \f \n \r \t \v, up to three octal digits, \x and one or two hex
 * digits, and any other character after a backslash stands for itself.
 * Returns the decoded length, never more than `len`.
 */
static size_t unescape(char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c != '\\' || i + 1 == len) {
            s[o++] = c;
            continue;
        }
        c = s[++i];
        switch (c) {
        case 'b':
            s[o++] = '\b';
            break;
        case 'f':
            s[o++] = '\f';
            break;
        case 'n':
            s[o++] = '\n';
            break;
        case 'r':
            s[o++] = '\r';
            break;
        case 't':
            s[o++] = '\t';
            break;
        case 'v':
            s[o++] = '\v';
            break;
        case 'x':
            if (i + 1 < len && hex_value(s[i + 1]) >= 0) {
                int v = hex_value(s[++i]);
                if (i + 1 < len && hex_value(s[i + 1]) >= 0)
                    v = v * 16 + hex_value(s[++i]);
                s[o++] = (char)v;
            } else {
                s[o++] = 'x';
            }
            break;
        default:
            if (is_octal(c)) {
                int v = c - '0';
                for (int k = 0; k < 2 && i + 1 < len && is_octal(s[i + 1]); k++)
                    v = v * 8 + (s[++i] - '0');
                s[o++] = (char)v;
            } else {
                s[o++] = c;
            }
        }
    }
    return o;
}

int pg_copy_fields_(char *buf, size_t len, int ncols, pg_copy_field_fn fn, void *userdata)
{
    if (len == 0 || buf[len - 1] != '\n')
        return PG_COPY_NO_NEWLINE;
    char *p = buf;
    char *end = buf + len - 1;
    int nfields = 0;
    /* A row of a zero-column relation is an empty line, not one empty field. */
    if (ncols == 0 && p == end)
        return 0;
    for (;;) {
        char *tab = memchr(p, '\t', (size_t)(end - p));
        char *stop = tab ? tab : end;
        if (nfields < ncols) {
            size_t n = (size_t)(stop - p);
            *stop = '\0';
            int null = n == 2 && p[0] == '\\' && p[1] == 'N';
            if (!null && memchr(p, '\\', n)) {
                n = unescape(p, n);
                p[n] = '\0';
            }
            if (fn(userdata, nfields, null ? NULL : p, n) != 0)
                return PG_COPY_FIELD_FAILED;
        }
        nfields++;
        if (!tab)
            return nfields;
        p = tab + 1;
    }
}
