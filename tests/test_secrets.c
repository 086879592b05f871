/*
 * secrets: sealing round trips and forgeries, the key from base64 or a key
 * file (created private, reused, refused when others can read it), masking
 * and secret key names as tables, and connection params split.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <sodium.h>

#include "harness.h"
#include "secrets.h"

/* ---- key names ---- */

static const char *const SECRET_NAMES[] = {
    "password",
    "PASSWORD",
    "Password",
    "pwd",
    "passwd",
    "pass",
    "secret",
    "client_secret",
    "clientSecret",
    "token",
    "access_token",
    "accessToken",
    "auth_token",
    "api_key",
    "apiKey",
    "APIKey",
    "apikey",
    "api-key",
    "X-API-Key",
    "sslkey",
    "sslKey",
    "sslpassword",
    "sslPassword",
    "private_key",
    "privateKey",
    "access_key",
    "secret_access_key",
    "SecretAccessKey",
    "credentials",
    "gcp_credentials",
    "passphrase",
    "db_password",
    "dbpassword",
    "PGPASSWORD",
    "password2",
    "authorization",
    "authMechanismProperties",
    "key",
    "private_key_passphrase",
    "session_token",
};

static const char *const PLAIN_NAMES[] = {
    "sslmode",
    "keepalives",
    "keepalives_idle",
    "monkey",
    "keyspace",
    "key_id",
    "keyId",
    "AccessKeyId",
    "primary_key",
    "host",
    "user",
    "username",
    "dbname",
    "port",
    "sslcert",
    "sslrootcert",
    "sslcrl",
    "passfile",
    "bypass",
    "compass",
    "max_tokens",
    "tokenizer",
    "authSource",
    "authMechanism",
    "application_name",
    "connect_timeout",
    "options",
    "",
    "replicaSet",
    "turnkey",
};

static void test_secret_key_names(void)
{
    for (size_t i = 0; i < sizeof(SECRET_NAMES) / sizeof(SECRET_NAMES[0]); i++) {
        if (!secrets_is_secret_key(SECRET_NAMES[i]))
            fprintf(stderr, "\n  \"%s\" should name a secret\n", SECRET_NAMES[i]);
        CU_ASSERT(secrets_is_secret_key(SECRET_NAMES[i]));
    }
    for (size_t i = 0; i < sizeof(PLAIN_NAMES) / sizeof(PLAIN_NAMES[0]); i++) {
        if (secrets_is_secret_key(PLAIN_NAMES[i]))
            fprintf(stderr, "\n  \"%s\" should not name a secret\n", PLAIN_NAMES[i]);
        CU_ASSERT(!secrets_is_secret_key(PLAIN_NAMES[i]));
    }
    CU_ASSERT(!secrets_is_secret_key(NULL));
}

/* ---- masking ---- */

struct mask_case {
    const char *in, *out;
    const char *secret; /* must not survive masking; NULL when there is none */
};

static const struct mask_case MASKS[] = {
    {"postgresql://app:s3cret@db:5432/sales", "postgresql://app:***@db:5432/sales", "s3cret"},
    {"postgresql://:s3cret@db/sales", "postgresql://:***@db/sales", "s3cret"},
    {"postgresql://u:@db/sales", "postgresql://u:***@db/sales", NULL},
    {"postgresql://app@db/sales", "postgresql://app@db/sales", NULL},
    {"postgresql://db:5432/sales", "postgresql://db:5432/sales", NULL},
    {"mysql+pymysql://root:p%40ss%3Aw%2Frd@h/d", "mysql+pymysql://root:***@h/d", "p%40ss"},
    {"postgresql://u:p@ss@h/d", "postgresql://u:***@h/d", "p@ss"},
    {"postgresql://u:ab/cd@h/d", "postgresql://u:***@h/d", "ab/cd"},
    {"postgresql://u:ab?cd@h/d", "postgresql://u:***@h/d", "ab?cd"},
    {"postgresql://u:pw@h/d?sslmode=require&password=x1y2&sslpassword=y3z4",
     "postgresql://u:***@h/d?sslmode=require&password=***&sslpassword=***", "x1y2"},
    {"postgresql://h/d?PassWord=x1y2&keepalives=1&monkey=2&api_key=k9k9",
     "postgresql://h/d?PassWord=***&keepalives=1&monkey=2&api_key=***", "k9k9"},
    {"postgresql://h/d?pass%77ord=x1y2", "postgresql://h/d?pass%77ord=***", "x1y2"},
    {"postgresql://h/d?password", "postgresql://h/d?password", NULL},
    {"postgresql://h/d?token=", "postgresql://h/d?token=***", NULL},
    {"postgresql://h/d?&&token=t0k&", "postgresql://h/d?&&token=***&", "t0k"},
    {"mongodb://u:p4ss@a:1,b:2/db?authSource=admin", "mongodb://u:***@a:1,b:2/db?authSource=admin",
     "p4ss"},
    {"mongodb+srv://u:p4ss@c.example.net/db?authMechanismProperties=AWS_SESSION_TOKEN:zzz",
     "mongodb+srv://u:***@c.example.net/db?authMechanismProperties=***", "zzz"},
    {"sqlite:////tmp/x.db", "sqlite:////tmp/x.db", NULL},
    {"sqlite:////tmp/a@b:c.db", "sqlite:////tmp/a@b:c.db", NULL},
    {"", "", NULL},
    /* Without a scheme: a keyword DSN, a Go MySQL DSN, or text copied as is. */
    {"not a url", "not a url", NULL},
    {"localhost:5432", "localhost:5432", NULL},
    {"host=db password=s3cret dbname=x", "host=db password=*** dbname=x", "s3cret"},
    {"host=db password = 's3 cr\\'et' user=u", "host=db password = *** user=u", "cr\\'et"},
    {"Server=db;Uid=u;Pwd={s3;cr}}et};Database=x", "Server=db;Uid=u;Pwd=***;Database=x", "cr}}et"},
    {"password='unterminated", "password=***", "unterminated"},
    {"Pwd={unterminated", "Pwd=***", "unterminated"},
    {"root:s3cret@tcp(127.0.0.1:3306)/shop?tls=true&password=x1y2",
     "root:***@tcp(127.0.0.1:3306)/shop?tls=true&password=***", "s3cret"},
};

static void test_mask_table(void)
{
    for (size_t i = 0; i < sizeof(MASKS) / sizeof(MASKS[0]); i++) {
        char *out = secrets_mask_url(MASKS[i].in);
        CU_ASSERT_PTR_NOT_NULL_FATAL(out);
        if (strcmp(out, MASKS[i].out) != 0)
            fprintf(stderr, "\n  mask(%s) = %s, wanted %s\n", MASKS[i].in, out, MASKS[i].out);
        CU_ASSERT_STRING_EQUAL(out, MASKS[i].out);
        if (MASKS[i].secret)
            CU_ASSERT_PTR_NULL(strstr(out, MASKS[i].secret));
        free(out);
    }
    char *out = secrets_mask_url(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_STRING_EQUAL(out, "");
    free(out);
}

/* Garbage of every shape comes back as a string (ASan/valgrind watch the reads). */
static void test_mask_garbage(void)
{
    static const char *const junk[] = {
        "@",     ":",   "@:",        ":@",     "a://",  "a://@",  "a://:@",
        "?",     "=",   "a=b=c",     "'",      "{",     "}",      "==''",
        " = ",   ";;;", "&&=&",      "://:x@", "x://?", "x://?=", "x://u:@?password",
        "x://%", "%%%", "password=", "pwd= ;",
    };
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        char *out = secrets_mask_url(junk[i]);
        CU_ASSERT_PTR_NOT_NULL(out);
        free(out);
    }
    /* Random bytes: nothing to compare, only termination and memory safety. */
    char buf[64];
    for (int round = 0; round < 2000; round++) {
        size_t len = randombytes_uniform(sizeof(buf));
        for (size_t i = 0; i < len; i++)
            buf[i] = "a:@/?=&;' {}%pPw\t"[randombytes_uniform(17)];
        buf[len] = '\0';
        char *out = secrets_mask_url(buf);
        CU_ASSERT_PTR_NOT_NULL(out);
        free(out);
    }
}

/* ---- connection params ---- */

struct split_case {
    const char *params, *public, *secret;
};

static const struct split_case SPLITS[] = {
    {"{}", "{}", "{}"},
    {"{\"host\":\"h\",\"port\":5432}", "{\"host\":\"h\",\"port\":5432}", "{}"},
    {"{\"host\":\"h\",\"password\":\"p\",\"sslmode\":\"require\"}",
     "{\"host\":\"h\",\"password\":\"***\",\"sslmode\":\"require\"}", "{\"password\":\"p\"}"},
    {"{\"options\":{\"sslkey\":\"k\",\"sslmode\":\"require\",\"deep\":{\"token\":\"t\",\"n\":1}},"
     "\"plain\":{\"a\":1}}",
     "{\"options\":{\"sslkey\":\"***\",\"sslmode\":\"require\",\"deep\":{\"token\":\"***\",\"n\":"
     "1}},\"plain\":{\"a\":1}}",
     "{\"options\":{\"sslkey\":\"k\",\"deep\":{\"token\":\"t\"}}}"},
    {"{\"credentials\":{\"type\":\"service_account\",\"key\":\"x\"}}", "{\"credentials\":\"***\"}",
     "{\"credentials\":{\"type\":\"service_account\",\"key\":\"x\"}}"},
    {"{\"hosts\":[{\"h\":\"a\",\"token\":\"t\"}],\"list\":[1,{\"x\":2}]}",
     "{\"hosts\":\"***\",\"list\":[1,{\"x\":2}]}", "{\"hosts\":[{\"h\":\"a\",\"token\":\"t\"}]}"},
    {"{\"apiKey\":null,\"monkey\":\"m\"}", "{\"apiKey\":\"***\",\"monkey\":\"m\"}",
     "{\"apiKey\":null}"},
    {"[1,2]", "[1,2]", "{}"},
};

static void test_split_table(void)
{
    for (size_t i = 0; i < sizeof(SPLITS) / sizeof(SPLITS[0]); i++) {
        json_t *params = json_loads(SPLITS[i].params, 0, NULL);
        json_t *want_pub = json_loads(SPLITS[i].public, 0, NULL);
        json_t *want_sec = json_loads(SPLITS[i].secret, 0, NULL);
        json_t *secret = NULL;
        CU_ASSERT_PTR_NOT_NULL_FATAL(params);
        json_t *pub = secrets_split_params(params, &secret);
        int ok = pub && secret && json_equal(pub, want_pub) && json_equal(secret, want_sec);
        if (!ok) {
            char *p = pub ? json_dumps(pub, JSON_SORT_KEYS) : NULL;
            char *s = secret ? json_dumps(secret, JSON_SORT_KEYS) : NULL;
            fprintf(stderr, "\n  split(%s) = %s / %s\n", SPLITS[i].params, p, s);
            free(p);
            free(s);
        }
        CU_ASSERT(ok);
        /* The input is untouched. */
        json_t *again = json_loads(SPLITS[i].params, 0, NULL);
        CU_ASSERT(json_equal(params, again));
        json_decref(again);
        json_decref(pub);
        json_decref(secret);
        json_decref(params);
        json_decref(want_pub);
        json_decref(want_sec);
    }

    json_t *secret = NULL;
    json_t *pub = secrets_split_params(NULL, &secret);
    CU_ASSERT(json_is_object(pub) && json_object_size(pub) == 0);
    CU_ASSERT(json_is_object(secret) && json_object_size(secret) == 0);
    json_decref(pub);
    json_decref(secret);

    /* Without secret_out: masking only. */
    json_t *params = json_pack("{s:s}", "password", "p");
    pub = secrets_split_params(params, NULL);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(pub, "password")), "***");
    json_decref(pub);
    json_decref(params);
}

/* Nesting deeper than the walk goes is hidden, not leaked and not a crash. */
static void test_split_deep(void)
{
    json_t *root = json_pack("{s:s}", "leaf", "visible?");
    for (int i = 0; i < 100; i++)
        root = json_pack("{s:o}", "a", root);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    json_t *secret = NULL;
    json_t *pub = secrets_split_params(root, &secret);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pub);
    char *text = json_dumps(pub, 0);
    CU_ASSERT_PTR_NULL(strstr(text, "visible?"));
    CU_ASSERT(json_object_size(secret) == 1);
    free(text);
    json_decref(pub);
    json_decref(secret);
    json_decref(root);
}

/* ---- keys and sealing ---- */

/* Base64 (the given libsodium variant) of 32 random bytes, also returned in `raw`. */
static char *random_key_b64(int variant, unsigned char raw[32])
{
    size_t len = sodium_base64_ENCODED_LEN(32, variant);
    char *b64 = malloc(len);
    randombytes_buf(raw, 32);
    sodium_bin2base64(b64, len, raw, 32, variant);
    return b64;
}

static struct secrets *open_random(void)
{
    unsigned char raw[32];
    char err[256];
    char *b64 = random_key_b64(sodium_base64_VARIANT_ORIGINAL, raw);
    struct secrets *s = secrets_open(b64, NULL, err, sizeof(err));
    free(b64);
    return s;
}

static void test_seal_round_trip(void)
{
    struct secrets *s = open_random();
    static const size_t lens[] = {0, 1, 31, 100, 5000};
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        unsigned char *plain = malloc(lens[i] + 1);
        randombytes_buf(plain, lens[i]);
        size_t sealed_len = 0, back_len = 99;
        unsigned char *blob = secrets_seal(s, plain, lens[i], &sealed_len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(blob);
        CU_ASSERT_EQUAL(sealed_len,
                        lens[i] + crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES);
        char *back = secrets_open_blob(s, blob, sealed_len, &back_len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(back);
        CU_ASSERT_EQUAL(back_len, lens[i]);
        CU_ASSERT(memcmp(back, plain, lens[i]) == 0);
        CU_ASSERT_EQUAL(back[lens[i]], '\0');
        /* A fresh nonce each time: the same text never seals the same way twice. */
        size_t len2 = 0;
        unsigned char *blob2 = secrets_seal(s, plain, lens[i], &len2);
        CU_ASSERT(len2 == sealed_len && memcmp(blob, blob2, sealed_len) != 0);
        free(blob2);
        free(back);
        free(blob);
        free(plain);
    }
    secrets_close(s);
}

static void test_tampered_blob(void)
{
    struct secrets *s = open_random();
    const char *text = "postgresql://app:s3cret@db/sales";
    size_t len = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    unsigned char *blob = secrets_seal(s, text, strlen(text), &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(blob);
    /* Every single flipped bit, in the nonce, the MAC and the ciphertext, is caught. */
    int all_refused = 1;
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            blob[i] ^= (unsigned char)(1u << bit);
            char *back = secrets_open_blob(s, blob, len, NULL);
            if (back)
                all_refused = 0;
            free(back);
            blob[i] ^= (unsigned char)(1u << bit);
        }
    }
    CU_ASSERT(all_refused);
    CU_ASSERT_PTR_NULL(secrets_open_blob(s, blob, len - 1, NULL));
    CU_ASSERT_PTR_NULL(secrets_open_blob(s, blob, crypto_secretbox_NONCEBYTES, NULL));
    CU_ASSERT_PTR_NULL(secrets_open_blob(s, blob, 0, NULL));
    CU_ASSERT_PTR_NULL(secrets_open_blob(s, NULL, len, NULL));
    char *back = secrets_open_blob(s, blob, len, NULL); /* and the intact blob still opens */
    CU_ASSERT(back && strcmp(back, text) == 0);
    free(back);
    free(blob);
    secrets_close(s);
}

static void test_wrong_key(void)
{
    struct secrets *a = open_random(), *b = open_random();
    size_t len = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    unsigned char *blob = secrets_seal(a, "secret", 6, &len);
    CU_ASSERT_PTR_NULL(secrets_open_blob(b, blob, len, NULL));
    char *back = secrets_open_blob(a, blob, len, NULL);
    CU_ASSERT(back && strcmp(back, "secret") == 0);
    free(back);
    free(blob);
    secrets_close(a);
    secrets_close(b);
}

/* One key written four ways (standard/URL-safe, padded or not) is the same key. */
static void test_base64_variants(void)
{
    static const int variants[] = {
        sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
        sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    unsigned char raw[32];
    char err[256];
    size_t len = 0;
    unsigned char *blob = NULL;

    /* Find a key whose base64 holds '+' or '/', so the URL-safe forms really differ. */
    char *b64 = NULL;
    do {
        free(b64);
        b64 = random_key_b64(sodium_base64_VARIANT_ORIGINAL, raw);
    } while (!strpbrk(b64, "+/"));
    struct secrets *first = secrets_open(b64, NULL, err, sizeof(err));
    free(b64);
    CU_ASSERT_PTR_NOT_NULL_FATAL(first);
    blob = secrets_seal(first, "same key", 8, &len);
    secrets_close(first);

    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        size_t n = sodium_base64_ENCODED_LEN(32, variants[i]);
        char *text = malloc(n + 1);
        sodium_bin2base64(text, n, raw, 32, variants[i]);
        if (i == 0)
            strcat(text, "\n"); /* a trailing newline (echo into an env file) is fine */
        struct secrets *s = secrets_open(text, NULL, err, sizeof(err));
        CU_ASSERT_PTR_NOT_NULL(s);
        char *back = s ? secrets_open_blob(s, blob, len, NULL) : NULL;
        CU_ASSERT(back && strcmp(back, "same key") == 0);
        free(back);
        secrets_close(s);
        free(text);
    }
    free(blob);
}

static void test_bad_keys(void)
{
    unsigned char raw[33];
    char err[256], b64[64];
    static const size_t bad_lens[] = {16, 31, 33};

    randombytes_buf(raw, sizeof(raw));
    for (size_t i = 0; i < sizeof(bad_lens) / sizeof(bad_lens[0]); i++) {
        sodium_bin2base64(b64, sizeof(b64), raw, bad_lens[i], sodium_base64_VARIANT_ORIGINAL);
        err[0] = '\0';
        CU_ASSERT_PTR_NULL(secrets_open(b64, NULL, err, sizeof(err)));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "base64 of 32 bytes"));
        CU_ASSERT_PTR_NULL(strstr(err, b64)); /* the key is never echoed */
    }
    static const char *const junk[] = {"not base64 at all!!", "====", "a",
                                       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=*"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        err[0] = '\0';
        CU_ASSERT_PTR_NULL(secrets_open(junk[i], NULL, err, sizeof(err)));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "base64 of 32 bytes"));
    }
    err[0] = '\0';
    CU_ASSERT_PTR_NULL(secrets_open("", NULL, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "no secret key"));
    CU_ASSERT_PTR_NULL(secrets_open(NULL, "", NULL, 0));
}

static int count_entries_starting(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return n;
}

static void test_key_file_created_and_reused(void)
{
    char *path = harness_tmppath("secret-key", ".b64");
    char err[256] = "";
    struct stat st;
    size_t len = 0;

    struct secrets *a = secrets_open(NULL, path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
    CU_ASSERT(S_ISREG(st.st_mode));
    CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);
    CU_ASSERT_EQUAL(st.st_size, 45); /* 44 characters of base64 and a newline */
    /* Only the key file: its temporary sibling is gone. */
    const char *base = strrchr(path, '/') + 1;
    CU_ASSERT_EQUAL(count_entries_starting(harness_tmpdir(), base), 1);

    unsigned char *blob = secrets_seal(a, "kept", 4, &len);
    secrets_close(a);
    struct secrets *b = secrets_open(NULL, path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    char *back = secrets_open_blob(b, blob, len, NULL);
    CU_ASSERT(back && strcmp(back, "kept") == 0);
    free(back);
    secrets_close(b);

    /* A base64 key wins over the file. */
    struct secrets *c = open_random();
    CU_ASSERT_PTR_NULL(secrets_open_blob(c, blob, len, NULL));
    secrets_close(c);
    free(blob);
    free(path);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

static void test_key_file_refused(void)
{
    unsigned char raw[32];
    char err[512];
    char *b64 = random_key_b64(sodium_base64_VARIANT_ORIGINAL, raw);
    static const mode_t open_modes[] = {0640, 0604, 0660, 0644, 0602};

    char *path = harness_tmppath("secret-key-mode", NULL);
    for (size_t i = 0; i < sizeof(open_modes) / sizeof(open_modes[0]); i++) {
        write_file(path, b64, open_modes[i]);
        err[0] = '\0';
        CU_ASSERT_PTR_NULL(secrets_open(NULL, path, err, sizeof(err)));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "group or others"));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "chmod 600"));
    }
    chmod(path, 0600); /* the same file, made private, is accepted */
    struct secrets *s = secrets_open(NULL, path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(s);
    secrets_close(s);
    chmod(path, 0400);
    s = secrets_open(NULL, path, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(s);
    secrets_close(s);
    free(path);

    path = harness_tmppath("secret-key-junk", NULL);
    write_file(path, "this is not a key\n", 0600);
    CU_ASSERT_PTR_NULL(secrets_open(NULL, path, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "does not hold base64"));
    free(path);

    path = harness_tmppath("secret-key-big", NULL);
    char big[1024];
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    write_file(path, big, 0600);
    CU_ASSERT_PTR_NULL(secrets_open(NULL, path, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "does not hold base64"));
    free(path);

    path = harness_tmppath("secret-key-dir", NULL);
    CU_ASSERT_EQUAL_FATAL(mkdir(path, 0700), 0);
    CU_ASSERT_PTR_NULL(secrets_open(NULL, path, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a regular file"));
    free(path);

    CU_ASSERT_PTR_NULL(secrets_open(NULL, "/nonexistent-dir/quarry.key", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot create key file"));
    free(b64);
}

void register_secrets_tests(void)
{
    CU_pSuite s = CU_add_suite("secrets", NULL, NULL);
    CU_add_test(s, "secret key names, and names that only look alike", test_secret_key_names);
    CU_add_test(s, "URL and DSN masking table", test_mask_table);
    CU_add_test(s, "masking survives garbage", test_mask_garbage);
    CU_add_test(s, "connection params split into public and secret", test_split_table);
    CU_add_test(s, "deeply nested params are hidden, not walked", test_split_deep);
    CU_add_test(s, "seal and open round trip, fresh nonce each time", test_seal_round_trip);
    CU_add_test(s, "a tampered or truncated blob does not open", test_tampered_blob);
    CU_add_test(s, "a blob does not open under another key", test_wrong_key);
    CU_add_test(s, "standard and URL-safe base64 give the same key", test_base64_variants);
    CU_add_test(s, "malformed base64 keys are refused", test_bad_keys);
    CU_add_test(s, "key file created 0600 and reused", test_key_file_created_and_reused);
    CU_add_test(s, "key file readable by others, junk or not a file is refused",
                test_key_file_refused);
}
