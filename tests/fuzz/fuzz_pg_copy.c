/*
 * libFuzzer target: rows of PostgreSQL's COPY text format, as a target
 * database sends them to the postgres driver's scan, through the row
 * splitter and the value conversion. The database is the customer's, not
 * ours: whatever bytes it sends must not crash or overrun the driver.
 *
 * Input: byte 0 picks the column count (0-8), the next bytes one type each,
 * the rest is the row (one CopyData message; libpq puts a NUL after it).
 */
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"

/* What pg_driver.c defines for the driver; the splitter and the conversion need no more. */
const struct quarry_host *pg_host_;
locale_t pg_c_locale_;

#define MAX_COLUMNS 8

static const Oid types[] = {16,  17,   18,   19,   20,   21,   23,   25,   26,   114, 700,
                            701, 1042, 1043, 1082, 1083, 1114, 1184, 1186, 1266, 1700, 2950,
                            3802, 600 /* point: no conversion of its own */};

struct row {
    Oid oids[MAX_COLUMNS];
    struct pg_cell cells[MAX_COLUMNS];
    struct quarry_value vals[MAX_COLUMNS];
    const char *buf;
    size_t len;
};

/* Every byte a value points at must be readable (ASan checks the reads). */
static unsigned touch(const struct quarry_value *v)
{
    unsigned sum = 0;
    for (size_t i = 0; v->str && i < v->len; i++)
        sum += (unsigned char)v->str[i];
    return sum;
}

static int field(void *userdata, int i, char *text, size_t len)
{
    struct row *r = userdata;
    if (i < 0 || i >= MAX_COLUMNS)
        abort();
    if (!text)
        return 0;
    /* The field lies inside the row and is NUL-terminated where it ends. */
    if (text < r->buf || text + len > r->buf + r->len || text[len] != '\0')
        abort();
    if (pg_value_convert_(r->oids[i], text, len, &r->cells[i], &r->vals[i]) != QUARRY_OK)
        return -1;
    return touch(&r->vals[i]) == UINT32_MAX ? -1 : 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    pg_c_locale_ = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int ncols = data[0] % (MAX_COLUMNS + 1);
    if (size < 1 + (size_t)ncols)
        return 0;
    struct row r;
    memset(&r, 0, sizeof(r));
    for (int i = 0; i < ncols; i++)
        r.oids[i] = types[data[1 + i] % (sizeof(types) / sizeof(types[0]))];
    size_t len = size - 1 - (size_t)ncols;
    char *buf = malloc(len + 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 1 + ncols, len);
    buf[len] = '\0';
    r.buf = buf;
    r.len = len;
    int n = pg_copy_fields_(buf, len, ncols, field, &r);
    if (n < PG_COPY_FIELD_FAILED)
        abort();
    for (int i = 0; i < ncols; i++)
        pg_cell_clear_(&r.cells[i]);
    free(buf);
    return 0;
}
