/* A growing SQL text buffer; after an allocation failure every call is a no-op. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "my_internal.h"

static int sql_reserve(struct my_sql *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *text = my_host.realloc(b->text, cap);
    if (!text) {
        b->failed = 1;
        return -1;
    }
    b->text = text;
    b->cap = cap;
    return 0;
}

static void sql_addn(struct my_sql *b, const char *s, size_t n)
{
    if (sql_reserve(b, n) != 0)
        return;
    memcpy(b->text + b->len, s, n);
    b->len += n;
    b->text[b->len] = '\0';
}

void my_sql_add(struct my_sql *b, const char *s)
{
    sql_addn(b, s, strlen(s));
}

void my_sql_addf(struct my_sql *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        sql_addn(b, small, (size_t)n);
        return;
    }
    if (sql_reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->text + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void my_sql_literal(struct my_sql *b, MYSQL *mysql, const char *s)
{
    size_t n = strlen(s);
    /* mysql_real_escape_string needs room for every byte escaped, plus NUL. */
    if (sql_reserve(b, 2 * n + 2) != 0)
        return;
    b->text[b->len++] = '\'';
    b->len += mysql_real_escape_string(mysql, b->text + b->len, s, (unsigned long)n);
    b->text[b->len++] = '\'';
    b->text[b->len] = '\0';
}

void my_sql_ident(struct my_sql *b, const char *s)
{
    sql_addn(b, "`", 1);
    for (const char *p = s; *p; p++) {
        sql_addn(b, p, 1);
        if (*p == '`') /* a backquote inside is doubled */
            sql_addn(b, "`", 1);
    }
    sql_addn(b, "`", 1);
}

void my_sql_free(struct my_sql *b)
{
    my_host.free(b->text);
    memset(b, 0, sizeof(*b));
}
