/*
 * The read-only gate: a small SQL lexer per dialect and checks over its
 * token stream (see sqlsafety.h for the rules).
 *
 * The lexer only has to agree with the database on where strings,
 * identifiers and comments begin and end; everything else is a word, a
 * number, or one punctuation byte. The checks then look at words only: text
 * inside a string, a quoted identifier or a comment can never refuse a
 * query, and can never hide one.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "sqlsafety.h"

/* ------------------------------------------------------------------------ */
/* Dialects                                                                 */
/* ------------------------------------------------------------------------ */

enum dialect_id { DIALECT_STANDARD, DIALECT_POSTGRES, DIALECT_MYSQL, DIALECT_SQLITE };

struct dialect {
    enum dialect_id id;
    unsigned nested_comments : 1;  /* PostgreSQL nests block comments */
    unsigned dollar_quotes : 1;    /* $tag$...$tag$ */
    unsigned escape_strings : 1;   /* E'...' always takes backslash escapes */
    unsigned hash_comments : 1;    /* # to end of line */
    unsigned dash_needs_space : 1; /* "--" opens a comment only before whitespace */
    unsigned dq_strings : 1;       /* "..." is a string and takes backslash escapes */
    unsigned backtick_idents : 1;
    unsigned bracket_idents : 1;
    unsigned table_statement : 1;     /* TABLE t is a query */
    unsigned exec_comments : 1;       /* slash-star-bang comments are code: refused */
    unsigned backslash_primary : 1;   /* '...' takes backslash escapes by default */
    unsigned backslash_ambiguous : 1; /* server settings can flip that: check both */
};

static const struct dialect dialect_standard = {.id = DIALECT_STANDARD};

static const struct dialect dialect_postgres = {.id = DIALECT_POSTGRES,
                                                .nested_comments = 1,
                                                .dollar_quotes = 1,
                                                .escape_strings = 1,
                                                .table_statement = 1,
                                                .backslash_ambiguous = 1};

static const struct dialect dialect_mysql = {.id = DIALECT_MYSQL,
                                             .hash_comments = 1,
                                             .dash_needs_space = 1,
                                             .dq_strings = 1,
                                             .backtick_idents = 1,
                                             .table_statement = 1,
                                             .exec_comments = 1,
                                             .backslash_primary = 1,
                                             .backslash_ambiguous = 1};

static const struct dialect dialect_sqlite = {
    .id = DIALECT_SQLITE, .backtick_idents = 1, .bracket_idents = 1};

static const struct dialect *dialect_find(const char *name)
{
    if (!name)
        return &dialect_standard;
    if (strcasecmp(name, "postgresql") == 0 || strcasecmp(name, "postgres") == 0)
        return &dialect_postgres;
    if (strcasecmp(name, "mysql") == 0 || strcasecmp(name, "mariadb") == 0)
        return &dialect_mysql;
    if (strcasecmp(name, "sqlite") == 0)
        return &dialect_sqlite;
    return &dialect_standard;
}

/* ------------------------------------------------------------------------ */
/* Verdicts                                                                 */
/* ------------------------------------------------------------------------ */

static void verdict_init(struct sqlsafety_verdict *v)
{
    v->ok = 0;
    v->reason[0] = '\0';
}

/* Records the first reason only; always returns -1 so callers can `return refuse(...)`. */
__attribute__((format(printf, 2, 3))) static int refuse(struct sqlsafety_verdict *v,
                                                        const char *fmt, ...)
{
    v->ok = 0;
    if (v->reason[0])
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
    va_end(ap);
    return -1;
}

/*
 * A name from the query as it may appear in a reason: at most 40 bytes,
 * anything outside printable ASCII shown as '?', so a reason is always
 * valid UTF-8 and one line.
 */
static void quote_name(char *dst, size_t dstlen, const char *src, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < dstlen && i < 40; i++)
        dst[n++] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
    dst[n] = '\0';
}

/* ------------------------------------------------------------------------ */
/* Lexer                                                                    */
/* ------------------------------------------------------------------------ */

enum tok_kind {
    TK_WORD,   /* keyword or unquoted identifier */
    TK_QIDENT, /* quoted identifier (or a MySQL "string", which can name things too) */
    TK_STRING,
    TK_NUMBER,
    TK_OP, /* any other single byte */
    TK_LPAREN,
    TK_RPAREN,
    TK_COMMA,
    TK_SEMI
};

/* Offsets fit 32 bits: input is bounded by SQLSAFETY_MAX_LEN. */
struct token {
    uint32_t start, end;     /* the whole token in the source */
    uint32_t text, text_len; /* the name or content, without quotes */
    uint8_t kind;
};

struct stream {
    const char *sql;
    struct token *toks;
    size_t ntoks, cap;
};

struct lexer {
    const char *sql;
    size_t len, pos;
    const struct dialect *d;
    int backslash; /* this reading: '...' takes backslash escapes */
    struct stream *out;
    struct sqlsafety_verdict *v;
};

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Bytes >= 0x80 belong to identifiers, as in every one of these lexers. */
static int is_ident_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static int is_ident_char(unsigned char c)
{
    return is_ident_start(c) || is_digit(c) || c == '$';
}

static unsigned char peek(const struct lexer *lx, size_t ahead)
{
    return lx->pos + ahead < lx->len ? (unsigned char)lx->sql[lx->pos + ahead] : 0;
}

static int push(struct lexer *lx, enum tok_kind kind, size_t start, size_t text, size_t text_len)
{
    struct stream *s = lx->out;
    if (s->ntoks == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct token *t = realloc(s->toks, cap * sizeof(*t));
        if (!t)
            return refuse(lx->v, "out of memory");
        s->toks = t;
        s->cap = cap;
    }
    s->toks[s->ntoks++] = (struct token){.start = (uint32_t)start,
                                         .end = (uint32_t)lx->pos,
                                         .text = (uint32_t)text,
                                         .text_len = (uint32_t)text_len,
                                         .kind = (uint8_t)kind};
    return 0;
}

static void lex_line_comment(struct lexer *lx)
{
    while (lx->pos < lx->len && lx->sql[lx->pos] != '\n')
        lx->pos++;
}

/* At the opening slash-star. */
static int lex_block_comment(struct lexer *lx)
{
    if (lx->d->exec_comments && (peek(lx, 2) == '!' || (peek(lx, 2) == 'M' && peek(lx, 3) == '!')))
        return refuse(lx->v, "MySQL executable comments (/*! ... */) are not accepted");
    int depth = 1;
    lx->pos += 2;
    while (lx->pos < lx->len) {
        if (peek(lx, 0) == '*' && peek(lx, 1) == '/') {
            lx->pos += 2;
            if (--depth == 0)
                return 0;
        } else if (lx->d->nested_comments && peek(lx, 0) == '/' && peek(lx, 1) == '*') {
            lx->pos += 2;
            depth++;
        } else {
            lx->pos++;
        }
    }
    return refuse(lx->v, "unterminated comment");
}

/*
 * From the opening `quote` (at lx->pos) to the closing one; a doubled quote
 * is part of the text, and so is a backslash-escaped byte when `backslash`.
 */
static int lex_quoted(struct lexer *lx, size_t start, char quote, int backslash, enum tok_kind kind)
{
    size_t text = ++lx->pos;
    while (lx->pos < lx->len) {
        char c = lx->sql[lx->pos];
        if (c == quote) {
            if (peek(lx, 1) == (unsigned char)quote) {
                lx->pos += 2;
                continue;
            }
            size_t text_len = lx->pos - text;
            lx->pos++;
            return push(lx, kind, start, text, text_len);
        }
        lx->pos += (backslash && c == '\\' && lx->pos + 1 < lx->len) ? 2 : 1;
    }
    return refuse(lx->v, kind == TK_STRING ? "unterminated string literal"
                                           : "unterminated quoted identifier");
}

/* SQLite's [identifier]: no escapes, ends at the first ']'. */
static int lex_bracket(struct lexer *lx)
{
    size_t start = lx->pos;
    const char *end = memchr(lx->sql + start + 1, ']', lx->len - start - 1);
    if (!end)
        return refuse(lx->v, "unterminated quoted identifier");
    lx->pos = (size_t)(end - lx->sql) + 1;
    return push(lx, TK_QIDENT, start, start + 1, lx->pos - start - 2);
}

/* The length of a dollar-quote delimiter "$tag$" at lx->pos, or 0 when there is none. */
static size_t dollar_tag_len(const struct lexer *lx)
{
    size_t i = 1;
    if (is_ident_start(peek(lx, i))) {
        while (is_ident_start(peek(lx, i)) || is_digit(peek(lx, i)))
            i++;
    }
    return peek(lx, i) == '$' ? i + 1 : 0;
}

static int lex_dollar(struct lexer *lx)
{
    size_t start = lx->pos, tag = dollar_tag_len(lx);
    if (tag == 0 || is_digit(peek(lx, 1))) { /* $1 parameters, stray '$' */
        lx->pos++;
        return push(lx, TK_OP, start, start, 1);
    }
    const char *delim = lx->sql + start;
    for (size_t p = start + tag; p + tag <= lx->len; p++) {
        if (lx->sql[p] == '$' && memcmp(lx->sql + p, delim, tag) == 0) {
            lx->pos = p + tag;
            return push(lx, TK_STRING, start, start + tag, p - start - tag);
        }
    }
    return refuse(lx->v, "unterminated dollar-quoted string");
}

/* Digits, a fraction, an exponent, or 0x hex; letters after it start a new word. */
static int lex_number(struct lexer *lx)
{
    size_t start = lx->pos;
    if (peek(lx, 0) == '0' && (peek(lx, 1) == 'x' || peek(lx, 1) == 'X') && is_hex(peek(lx, 2))) {
        lx->pos += 2;
        while (is_hex(peek(lx, 0)))
            lx->pos++;
        return push(lx, TK_NUMBER, start, start, lx->pos - start);
    }
    while (is_digit(peek(lx, 0)))
        lx->pos++;
    if (peek(lx, 0) == '.') {
        lx->pos++;
        while (is_digit(peek(lx, 0)))
            lx->pos++;
    }
    if (peek(lx, 0) == 'e' || peek(lx, 0) == 'E') {
        size_t sign = (peek(lx, 1) == '+' || peek(lx, 1) == '-') ? 1 : 0;
        if (is_digit(peek(lx, 1 + sign))) {
            lx->pos += 1 + sign;
            while (is_digit(peek(lx, 0)))
                lx->pos++;
        }
    }
    return push(lx, TK_NUMBER, start, start, lx->pos - start);
}

/* A word, or the prefix of a PostgreSQL E'...' / U&'...' literal. */
static int lex_word(struct lexer *lx)
{
    size_t start = lx->pos;
    while (is_ident_char(peek(lx, 0)))
        lx->pos++;
    size_t len = lx->pos - start;
    char c0 = lx->sql[start];
    if (lx->d->escape_strings && len == 1 && (c0 == 'E' || c0 == 'e') && peek(lx, 0) == '\'')
        return lex_quoted(lx, start, '\'', 1, TK_STRING);
    if (lx->d->id == DIALECT_POSTGRES && len == 1 && (c0 == 'U' || c0 == 'u') &&
        peek(lx, 0) == '&') {
        if (peek(lx, 1) == '"')
            return refuse(lx->v, "Unicode-escaped identifiers (U&\"...\") are not accepted");
        if (peek(lx, 1) == '\'') {
            lx->pos++; /* U&'...' reads like a standard string */
            return lex_quoted(lx, start, '\'', 0, TK_STRING);
        }
    }
    return push(lx, TK_WORD, start, start, len);
}

static int lex_punct(struct lexer *lx)
{
    static const struct {
        char c;
        enum tok_kind kind;
    } kinds[] = {{'(', TK_LPAREN}, {')', TK_RPAREN}, {',', TK_COMMA}, {';', TK_SEMI}};
    size_t start = lx->pos++;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (lx->sql[start] == kinds[i].c)
            return push(lx, kinds[i].kind, start, start, 1);
    return push(lx, TK_OP, start, start, 1);
}

/* MySQL reads "--" as a comment only when whitespace or a control byte follows ("1--1" is 2). */
static int starts_line_comment(const struct lexer *lx)
{
    unsigned char c = peek(lx, 0);
    if (c == '#' && lx->d->hash_comments)
        return 1;
    if (c != '-' || peek(lx, 1) != '-')
        return 0;
    if (!lx->d->dash_needs_space)
        return 1;
    return lx->pos + 2 >= lx->len || peek(lx, 2) <= ' ';
}

static int lex_one(struct lexer *lx)
{
    unsigned char c = peek(lx, 0);
    const struct dialect *d = lx->d;
    if (starts_line_comment(lx)) {
        lex_line_comment(lx);
        return 0;
    }
    if (c == '/' && peek(lx, 1) == '*')
        return lex_block_comment(lx);
    if (c == '\'')
        return lex_quoted(lx, lx->pos, '\'', lx->backslash, TK_STRING);
    if (c == '"')
        return lex_quoted(lx, lx->pos, '"', d->dq_strings && lx->backslash, TK_QIDENT);
    if (c == '`' && d->backtick_idents)
        return lex_quoted(lx, lx->pos, '`', 0, TK_QIDENT);
    if (c == '[' && d->bracket_idents)
        return lex_bracket(lx);
    if (c == '$' && d->dollar_quotes)
        return lex_dollar(lx);
    if (is_digit(c) || (c == '.' && is_digit(peek(lx, 1))))
        return lex_number(lx);
    if (is_ident_start(c))
        return lex_word(lx);
    return lex_punct(lx);
}

/* Lexes `len` bytes of `sql` into `out` (caller frees out->toks). 0, or -1 with a reason. */
static int lex(const char *sql, size_t len, const struct dialect *d, int backslash,
               struct stream *out, struct sqlsafety_verdict *v)
{
    struct lexer lx = {
        .sql = sql, .len = len, .pos = 0, .d = d, .backslash = backslash, .out = out, .v = v};
    memset(out, 0, sizeof(*out));
    out->sql = sql;
    while (lx.pos < lx.len) {
        if (is_space(peek(&lx, 0))) {
            lx.pos++;
            continue;
        }
        if (lex_one(&lx) != 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Token helpers                                                            */
/* ------------------------------------------------------------------------ */

struct checker {
    const struct stream *s;
    size_t n;        /* tokens of the statement: trailing semicolons dropped */
    uint32_t *match; /* match[i]: the index of the ')' closing the '(' at i */
    const struct dialect *d;
    struct sqlsafety_verdict *v;
};

static int kind_at(const struct checker *c, size_t i)
{
    return i < c->n ? c->s->toks[i].kind : -1;
}

static int word_is(const struct checker *c, size_t i, const char *kw)
{
    if (kind_at(c, i) != TK_WORD)
        return 0;
    const struct token *t = &c->s->toks[i];
    return strlen(kw) == t->text_len && strncasecmp(c->s->sql + t->text, kw, t->text_len) == 0;
}

static int word_in(const struct checker *c, size_t i, const char *const *list)
{
    for (; *list; list++)
        if (word_is(c, i, *list))
            return 1;
    return 0;
}

/* The token's name for a reason: see quote_name. */
static void token_name(const struct checker *c, size_t i, char *dst, size_t dstlen)
{
    if (i >= c->n) {
        snprintf(dst, dstlen, "the end of the query");
        return;
    }
    const struct token *t = &c->s->toks[i];
    quote_name(dst, dstlen, c->s->sql + t->text, t->text_len);
}

/* ------------------------------------------------------------------------ */
/* Checks                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * Functions that read files or the network, run a query given as text,
 * sleep, take locks, or change server state. Exact names, then prefixes.
 */
static const char *const denied_functions[] = {
    /* PostgreSQL */
    "pg_stat_file", "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf",
    "pg_rotate_logfile", "pg_promote", "pg_switch_wal", "pg_switch_xlog", "pg_start_backup",
    "pg_stop_backup", "pg_backup_start", "pg_backup_stop", "pg_notify", "pg_logical_emit_message",
    "pg_logdir_ls", "pg_import_system_collations", "pg_extension_config_dump",
    "pg_log_backend_memory_contexts", "set_config", "nextval", "setval", "loread", "lowrite",
    "ts_stat", "ts_rewrite", "database_to_xml", "database_to_xmlschema",
    "database_to_xml_and_xmlschema",
    /* MySQL and MariaDB */
    "load_file", "sleep", "benchmark", "get_lock", "release_lock", "release_all_locks",
    "master_pos_wait", "source_pos_wait", "master_gtid_wait", "wait_for_executed_gtid_set",
    "wait_until_sql_thread_after_gtids", "sys_exec", "sys_eval",
    /* SQLite */
    "load_extension", "readfile", "writefile", "fts3_tokenizer", "edit", "fsdir", "zipfile", NULL};

static const char *const denied_prefixes[] = {"pg_read_",
                                              "pg_ls_",
                                              "pg_sleep",
                                              "pg_advisory",
                                              "pg_try_advisory",
                                              "pg_file_",
                                              "pg_create_",
                                              "pg_drop_",
                                              "pg_replication_",
                                              "pg_copy_",
                                              "pg_stat_reset",
                                              "pg_wal_replay_",
                                              "lo_",
                                              "dblink",
                                              "query_to_xml",
                                              "cursor_to_xml",
                                              NULL};

static int function_denied(const char *name, size_t len)
{
    char lower[64];
    if (len >= sizeof(lower))
        len = sizeof(lower) - 1; /* longer than any name here: only a prefix can match */
    for (size_t i = 0; i < len; i++)
        lower[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] + 32) : name[i];
    lower[len] = '\0';
    for (const char *const *f = denied_functions; *f; f++)
        if (strcmp(lower, *f) == 0)
            return 1;
    for (const char *const *p = denied_prefixes; *p; p++)
        if (strncmp(lower, *p, strlen(*p)) == 0)
            return 1;
    return 0;
}

static const char *const query_starts[] = {"SELECT", "VALUES", "WITH", NULL};
static const char *const write_starts[] = {"INSERT", "UPDATE", "DELETE", "MERGE", NULL};
static const char *const lock_words[] = {"UPDATE", "SHARE", "NO", "KEY", NULL};

/* Token i (after any opening parentheses) must begin a query: SELECT, VALUES, WITH, TABLE. */
static int check_query_start(const struct checker *c, size_t i, const char *what)
{
    while (kind_at(c, i) == TK_LPAREN)
        i++;
    if (word_in(c, i, query_starts) || (c->d->table_statement && word_is(c, i, "TABLE")))
        return 0;
    char name[48];
    token_name(c, i, name, sizeof(name));
    return refuse(c->v, "%s must be a read-only SELECT, not %s", what, name);
}

/* From i, skips to the first token at the same depth that is the word `kw`; n when none. */
static size_t skip_to_word(const struct checker *c, size_t i, const char *kw)
{
    while (i < c->n && !word_is(c, i, kw))
        i = kind_at(c, i) == TK_LPAREN ? c->match[i] + 1 : i + 1;
    return i;
}

/* PostgreSQL's "SEARCH ... SET col" and "CYCLE ... USING col" after a CTE body. */
static size_t skip_cte_clauses(const struct checker *c, size_t j)
{
    if (word_is(c, j, "SEARCH"))
        j = skip_to_word(c, j, "SET") + 2;
    if (word_is(c, j, "CYCLE"))
        j = skip_to_word(c, j, "USING") + 2;
    return j;
}

/*
 * WITH [RECURSIVE] name [(cols)] AS [NOT] [MATERIALIZED] (body) [, ...] query:
 * every body and the query after the list must be read-only queries.
 */
static int check_with(const struct checker *c, size_t i)
{
    size_t j = i + 1;
    if (word_is(c, j, "RECURSIVE"))
        j++;
    for (;;) {
        if (kind_at(c, j) != TK_WORD && kind_at(c, j) != TK_QIDENT)
            return refuse(c->v, "malformed WITH clause: a query name is missing");
        j++;
        if (kind_at(c, j) == TK_LPAREN)
            j = c->match[j] + 1;
        if (!word_is(c, j, "AS"))
            return refuse(c->v, "malformed WITH clause: AS is missing");
        j++;
        if (word_is(c, j, "NOT"))
            j++;
        if (word_is(c, j, "MATERIALIZED"))
            j++;
        if (kind_at(c, j) != TK_LPAREN)
            return refuse(c->v, "malformed WITH clause: the query body is missing");
        if (check_query_start(c, j + 1, "a WITH query (CTE)") != 0)
            return -1;
        j = skip_cte_clauses(c, c->match[j] + 1);
        if (kind_at(c, j) != TK_COMMA)
            break;
        j++;
    }
    return check_query_start(c, j, "the statement after WITH");
}

static int check_word(const struct checker *c, size_t i)
{
    int at_query_start = i == 0 || kind_at(c, i - 1) == TK_LPAREN;
    if (word_is(c, i, "INTO"))
        return refuse(c->v, "SELECT ... INTO writes; INTO is not accepted");
    if ((word_is(c, i, "FOR") && word_in(c, i + 1, lock_words)) ||
        (word_is(c, i, "LOCK") && word_is(c, i + 1, "IN")))
        return refuse(c->v, "locking clauses (FOR UPDATE, FOR SHARE, LOCK IN SHARE MODE) are "
                            "not accepted");
    if (at_query_start && word_in(c, i, write_starts) && kind_at(c, i + 1) != TK_LPAREN) {
        char name[48];
        token_name(c, i, name, sizeof(name));
        return refuse(c->v, "%s inside a query writes; only SELECT is accepted", name);
    }
    if (at_query_start && word_is(c, i, "WITH"))
        return check_with(c, i);
    return 0;
}

/* A word or quoted name directly before '(' is a function call (or a table function). */
static int check_call(const struct checker *c, size_t i)
{
    const struct token *t = &c->s->toks[i];
    if (kind_at(c, i + 1) != TK_LPAREN || !function_denied(c->s->sql + t->text, t->text_len))
        return 0;
    char name[48];
    token_name(c, i, name, sizeof(name));
    return refuse(c->v,
                  "function %s is not allowed (it reads files or the network, waits, "
                  "locks, or changes server state)",
                  name);
}

/* Matches parentheses into c->match, bounded by SQLSAFETY_MAX_DEPTH. */
static int match_parens(struct checker *c)
{
    uint32_t stack[SQLSAFETY_MAX_DEPTH];
    size_t depth = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (kind_at(c, i) == TK_LPAREN) {
            if (depth == SQLSAFETY_MAX_DEPTH)
                return refuse(c->v, "parentheses nested deeper than %d", SQLSAFETY_MAX_DEPTH);
            stack[depth++] = (uint32_t)i;
        } else if (kind_at(c, i) == TK_RPAREN) {
            if (depth == 0)
                return refuse(c->v, "unbalanced parentheses: ')' without '('");
            c->match[stack[--depth]] = (uint32_t)i;
        }
    }
    return depth == 0 ? 0 : refuse(c->v, "unbalanced parentheses: '(' not closed");
}

static size_t statement_end(const struct stream *s)
{
    size_t n = s->ntoks;
    while (n > 0 && s->toks[n - 1].kind == TK_SEMI)
        n--;
    return n;
}

static int check_stream(const struct stream *s, const struct dialect *d,
                        struct sqlsafety_verdict *v)
{
    struct checker c = {.s = s, .n = statement_end(s), .d = d, .v = v};
    if (c.n == 0)
        return refuse(v, "the query is empty");
    for (size_t i = 0; i < c.n; i++)
        if (kind_at(&c, i) == TK_SEMI)
            return refuse(v, "only one statement is accepted; text follows a ';'");
    c.match = calloc(c.n, sizeof(*c.match));
    if (!c.match)
        return refuse(v, "out of memory");
    int rc = match_parens(&c);
    if (rc == 0)
        rc = check_query_start(&c, 0, "the statement");
    for (size_t i = 0; rc == 0 && i < c.n; i++) {
        if (kind_at(&c, i) == TK_WORD)
            rc = check_word(&c, i);
        if (rc == 0 && (kind_at(&c, i) == TK_WORD || kind_at(&c, i) == TK_QIDENT))
            rc = check_call(&c, i);
    }
    free(c.match);
    return rc;
}

/* One reading of the query: lex with `backslash` and check. 0 or -1. */
static int check_reading(const char *sql, size_t len, const struct dialect *d, int backslash,
                         struct sqlsafety_verdict *v)
{
    struct stream s;
    int rc = lex(sql, len, d, backslash, &s, v);
    if (rc == 0)
        rc = check_stream(&s, d, v);
    free(s.toks);
    return rc;
}

/* 0 with the length when `sql` is within bounds, else -1 with a reason. */
static int bounded_len(const char *sql, size_t *len, struct sqlsafety_verdict *v)
{
    if (!sql)
        return refuse(v, "the query is empty");
    *len = strnlen(sql, SQLSAFETY_MAX_LEN + 1);
    if (*len > SQLSAFETY_MAX_LEN)
        return refuse(v, "the query is longer than %d bytes", SQLSAFETY_MAX_LEN);
    return 0;
}

int sqlsafety_check(const char *sql, const char *dialect, struct sqlsafety_verdict *out)
{
    struct sqlsafety_verdict local;
    struct sqlsafety_verdict *v = out ? out : &local;
    size_t len;
    verdict_init(v);
    if (dialect && strcasecmp(dialect, "mongodb") == 0) {
        refuse(v, "a mongodb query is a JSON command, not SQL");
        return 0;
    }
    const struct dialect *d = dialect_find(dialect);
    if (bounded_len(sql, &len, v) != 0 || check_reading(sql, len, d, d->backslash_primary, v) != 0)
        return 0;
    /* Only a backslash can make the two readings differ. */
    if (d->backslash_ambiguous && memchr(sql, '\\', len)) {
        struct sqlsafety_verdict alt;
        verdict_init(&alt);
        if (check_reading(sql, len, d, !d->backslash_primary, &alt) != 0) {
            refuse(v, "a backslash in a string literal makes this query read differently under "
                      "other server settings; escape a quote by doubling it ('')");
            return 0;
        }
    }
    v->ok = 1;
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Normalizing and limiting                                                 */
/* ------------------------------------------------------------------------ */

/* Lexes the primary reading; 0 with the statement's token count, or -1. */
static int lex_statement(const char *sql, const char *dialect, struct stream *s, size_t *n)
{
    struct sqlsafety_verdict v;
    size_t len;
    const struct dialect *d = dialect_find(dialect);
    verdict_init(&v);
    memset(s, 0, sizeof(*s));
    if (bounded_len(sql, &len, &v) != 0 || lex(sql, len, d, d->backslash_primary, s, &v) != 0)
        return -1;
    *n = statement_end(s);
    return *n > 0 ? 0 : -1;
}

char *sqlsafety_normalize(const char *sql, const char *dialect)
{
    struct stream s;
    size_t n;
    char *out = NULL;
    if (lex_statement(sql, dialect, &s, &n) == 0)
        out = strndup(sql + s.toks[0].start, s.toks[n - 1].end - s.toks[0].start);
    free(s.toks);
    return out;
}

/*
 * 1 when "LIMIT n" can be appended: a SELECT (or WITH ... SELECT) without
 * LIMIT, OFFSET or FETCH at the top level. VALUES, TABLE and parenthesised
 * queries are wrapped instead: SQLite takes no LIMIT after VALUES.
 */
static int can_append_limit(const struct stream *s, size_t n)
{
    static const char *const limit_words[] = {"LIMIT", "OFFSET", "FETCH", NULL};
    const struct checker c = {.s = s, .n = n};
    size_t first = 0;
    if (word_is(&c, 0, "WITH")) {
        int depth = 0;
        for (first = 1; first < n; first++) {
            depth += kind_at(&c, first) == TK_LPAREN ? 1 : kind_at(&c, first) == TK_RPAREN ? -1 : 0;
            if (depth == 0 && (word_in(&c, first, query_starts) || word_is(&c, first, "TABLE")))
                break;
        }
    }
    if (!word_is(&c, first, "SELECT"))
        return 0;
    int depth = 0;
    for (size_t i = first; i < n; i++) {
        depth += kind_at(&c, i) == TK_LPAREN ? 1 : kind_at(&c, i) == TK_RPAREN ? -1 : 0;
        if (depth == 0 && word_in(&c, i, limit_words))
            return 0;
    }
    return 1;
}

char *sqlsafety_limit(const char *sql, const char *dialect, long limit)
{
    struct stream s;
    size_t n;
    char *out = NULL;
    if (lex_statement(sql, dialect, &s, &n) != 0) {
        free(s.toks);
        return NULL;
    }
    int len = (int)(s.toks[n - 1].end - s.toks[0].start);
    const char *body = sql + s.toks[0].start;
    int standard = dialect_find(dialect)->id == DIALECT_STANDARD;
    const char *clause = standard ? "FETCH FIRST %ld ROWS ONLY" : "LIMIT %ld";
    char tail[64];
    snprintf(tail, sizeof(tail), clause, limit);
    int rc;
    /* Newlines keep a trailing "--" comment inside the statement from eating the clause. */
    if (limit <= 0)
        rc = asprintf(&out, "%.*s", len, body);
    else if (can_append_limit(&s, n))
        rc = asprintf(&out, "%.*s\n%s", len, body, tail);
    else
        rc = asprintf(&out, "SELECT * FROM (\n%.*s\n) AS quarry_q %s", len, body, tail);
    free(s.toks);
    return rc < 0 ? NULL : out;
}

/* ------------------------------------------------------------------------ */
/* MongoDB commands                                                         */
/* ------------------------------------------------------------------------ */

static const char *const denied_operators[] = {"$out",      "$merge",       "$where",
                                               "$function", "$accumulator", NULL};

static int check_json_value(const json_t *value, int depth, struct sqlsafety_verdict *v)
{
    if (depth > SQLSAFETY_MAX_DEPTH)
        return refuse(v, "the command is nested deeper than %d", SQLSAFETY_MAX_DEPTH);
    if (json_is_array(value)) {
        size_t i;
        const json_t *item;
        json_array_foreach(value, i, item)
        {
            if (check_json_value(item, depth + 1, v) != 0)
                return -1;
        }
    } else if (json_is_object(value)) {
        const char *key;
        const json_t *item;
        json_object_foreach((json_t *)value, key, item)
        {
            for (const char *const *op = denied_operators; *op; op++)
                if (strcmp(key, *op) == 0)
                    return refuse(v,
                                  "%s is not accepted: it writes or runs server-side "
                                  "JavaScript",
                                  *op);
            if (check_json_value(item, depth + 1, v) != 0)
                return -1;
        }
    }
    return 0;
}

/* The command is its first key (jansson keeps insertion order), as the driver reads it. */
static int check_command(const json_t *root, struct sqlsafety_verdict *v)
{
    void *it = json_object_iter((json_t *)root);
    const char *name = it ? json_object_iter_key(it) : NULL;
    if (!name || (strcmp(name, "find") != 0 && strcmp(name, "aggregate") != 0)) {
        char quoted[48];
        quote_name(quoted, sizeof(quoted), name ? name : "", name ? strlen(name) : 0);
        return refuse(v, "only find and aggregate commands are accepted, not '%s'", quoted);
    }
    const json_t *coll = json_object_iter_value(it);
    if (!json_is_string(coll) || json_string_length(coll) == 0)
        return refuse(v, "'%s' needs a collection name", name);
    if (json_object_get(root, strcmp(name, "find") == 0 ? "aggregate" : "find"))
        return refuse(v, "one command at a time: both find and aggregate are given");
    if (strcmp(name, "aggregate") == 0 && !json_is_array(json_object_get(root, "pipeline")))
        return refuse(v, "aggregate needs a pipeline array");
    return 0;
}

int sqlsafety_check_pipeline(const char *json_text, struct sqlsafety_verdict *out)
{
    struct sqlsafety_verdict local;
    struct sqlsafety_verdict *v = out ? out : &local;
    json_error_t jerr;
    size_t len;
    verdict_init(v);
    if (bounded_len(json_text, &len, v) != 0)
        return 0;
    json_t *root = json_loadb(json_text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        char why[48];
        quote_name(why, sizeof(why), jerr.text, strlen(jerr.text));
        refuse(v, "the command is not valid JSON: %s", why);
        return 0;
    }
    if (!json_is_object(root))
        refuse(v, "the command must be a JSON object");
    else if (check_command(root, v) == 0 && check_json_value(root, 0, v) == 0)
        v->ok = 1;
    json_decref(root);
    return v->ok;
}
