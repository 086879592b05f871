/* Question normalisation: tokens, case, singular forms, numbers written as words, months. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t2s_internal.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

void t2s_stem_(const char *word, char out[T2S_WORD])
{
    static const char *const irregular[][2] = {
        {"people", "person"},     {"men", "man"},       {"women", "woman"},
        {"children", "child"},    {"data", "data"},     {"series", "series"},
        {"news", "news"},         {"status", "status"}, {"address", "address"},
        {"business", "business"}, {"sales", "sale"},    {"analysis", "analysis"},
        {"indices", "index"},     {"boxes", "box"},     {"taxes", "tax"},
        {"classes", "class"}, /* abbreviations in names read as the words they stand for */
        {"max", "maximum"},       {"min", "minimum"},   {"avg", "average"},
        {"qty", "quantity"}};
    size_t n = strlen(word);
    snprintf(out, T2S_WORD, "%s", word);
    for (size_t i = 0; i < sizeof(irregular) / sizeof(irregular[0]); i++)
        if (strcmp(word, irregular[i][0]) == 0) {
            snprintf(out, T2S_WORD, "%s", irregular[i][1]);
            return;
        }
    if (n < 4 || !isalpha((unsigned char)word[n - 1]))
        return;
    if (ends_with(word, "ies") && n > 4)
        strcpy(out + n - 3, "y");
    else if (ends_with(word, "sses") || ends_with(word, "xes") || ends_with(word, "ches") ||
             ends_with(word, "shes") || ends_with(word, "zzes") || ends_with(word, "uses"))
        out[n - 2] = '\0';
    else if (ends_with(word, "s") && !ends_with(word, "ss") && !ends_with(word, "us") &&
             !ends_with(word, "is") && !ends_with(word, "ous"))
        out[n - 1] = '\0';
}

const char *t2s_synonym_(const char *stem)
{
    static const char *const syn[][2] = {{"song", "track"},
                                         {"tune", "track"},
                                         {"client", "customer"},
                                         {"buyer", "customer"},
                                         {"shopper", "customer"},
                                         {"staff", "employee"},
                                         {"worker", "employee"},
                                         {"employe", "employee"},
                                         {"item", "product"},
                                         {"purchase", "order"},
                                         {"vendor", "supplier"},
                                         {"cost", "price"},
                                         {"pay", "salary"},
                                         {"wage", "salary"},
                                         {"earn", "salary"},
                                         {"department", "dept"},
                                         {"dept", "department"},
                                         {"phone", "phone"},
                                         {"mail", "email"},
                                         {"e-mail", "email"},
                                         {"surname", "last name"},
                                         {"category", "genre"},
                                         {"kind", "type"},
                                         {"sort", "type"},
                                         {"town", "city"},
                                         {"nation", "country"},
                                         {"salesperson", "employee"},
                                         {"rep", "employee"},
                                         {"representative", "employee"},
                                         {"record", "album"},
                                         {"musician", "artist"},
                                         {"band", "artist"},
                                         {"singer", "artist"},
                                         {"stock", "unit in stock"},
                                         {"flight", "flight"},
                                         {"plane", "aircraft"},
                                         {"airplane", "aircraft"},
                                         {"length", "duration"},
                                         {"birthday", "birth date"},
                                         {"dob", "birth date"},
                                         {"title", "name"},
                                         {"qty", "quantity"}};
    for (size_t i = 0; i < sizeof(syn) / sizeof(syn[0]); i++)
        if (strcmp(stem, syn[i][0]) == 0)
            return syn[i][1];
    return NULL;
}

int t2s_stopword_(const char *w)
{
    static const char *const stop[] = {"the",
                                       "a",
                                       "an",
                                       "of",
                                       "in",
                                       "on",
                                       "for",
                                       "to",
                                       "with",
                                       "by",
                                       "is",
                                       "are",
                                       "was",
                                       "were",
                                       "be",
                                       "been",
                                       "do",
                                       "does",
                                       "did",
                                       "have",
                                       "has",
                                       "had",
                                       "there",
                                       "what",
                                       "which",
                                       "who",
                                       "whom",
                                       "whose",
                                       "how",
                                       "many",
                                       "much",
                                       "list",
                                       "show",
                                       "give",
                                       "me",
                                       "all",
                                       "each",
                                       "every",
                                       "per",
                                       "and",
                                       "or",
                                       "that",
                                       "this",
                                       "these",
                                       "those",
                                       "their",
                                       "its",
                                       "it",
                                       "from",
                                       "as",
                                       "at",
                                       "please",
                                       "find",
                                       "get",
                                       "display",
                                       "tell",
                                       "number",
                                       "count",
                                       "than",
                                       "where",
                                       "whose",
                                       "they",
                                       "them",
                                       "we",
                                       "our",
                                       "us",
                                       "i",
                                       "my",
                                       "any",
                                       "some",
                                       "one",
                                       "ones",
                                       "belong",
                                       "belongs",
                                       "contain",
                                       "contains",
                                       "made",
                                       "exist",
                                       "exists",
                                       "can",
                                       "you",
                                       "return",
                                       "?",
                                       "it's",
                                       "s",
                                       "overall",
                                       "altogether",
                                       "record",
                                       "records",
                                       "row",
                                       "rows",
                                       "entry",
                                       "entries",
                                       "currently",
                                       "stored",
                                       "have",
                                       "sorted",
                                       "ordered",
                                       "order",
                                       "ascending",
                                       "descending",
                                       "alphabetical",
                                       "alphabetically",
                                       "along",
                                       "together",
                                       "together",
                                       "whole",
                                       "entire",
                                       "respective",
                                       "corresponding",
                                       "listed",
                                       "recorded",
                                       "registered",
                                       "known",
                                       "present",
                                       "appear",
                                       "appears",
                                       "including",
                                       "both",
                                       "only",
                                       "also",
                                       "just",
                                       "ever",
                                       "between",
                                       "about",
                                       "out",
                                       "into",
                                       "under",
                                       "over",
                                       "like",
                                       "such",
                                       "other",
                                       "same",
                                       "different",
                                       "distinct",
                                       "unique",
                                       "value",
                                       "values"};
    for (size_t i = 0; i < sizeof(stop) / sizeof(stop[0]); i++)
        if (strcmp(w, stop[i]) == 0)
            return 1;
    return 0;
}

/*
 * Names are turned into words for every phrase the linker tries, so the
 * results are memoised per thread (direct-mapped on a hash of the name;
 * the name itself is kept and compared, so a stale slot is never used).
 */
#define WORDS_SLOTS 1024
#define WORDS_NAME 48
#define WORDS_OUT 96

struct words_slot {
    char name[WORDS_NAME];
    char out[WORDS_OUT];
    unsigned char stem, valid;
};

static __thread struct words_slot words_cache[WORDS_SLOTS];

static void words_uncached(const char *name, int stem, char out[T2S_PHRASE]);

void t2s_words_(const char *name, int stem, char out[T2S_PHRASE])
{
    size_t len = strlen(name);
    if (len >= WORDS_NAME) {
        words_uncached(name, stem, out);
        return;
    }
    unsigned h = 2166136261u;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h = (h ^ (unsigned)stem) * 16777619u;
    struct words_slot *slot = &words_cache[h % WORDS_SLOTS];
    if (slot->valid && slot->stem == (unsigned char)stem && strcmp(slot->name, name) == 0) {
        memcpy(out, slot->out, strlen(slot->out) + 1);
        return;
    }
    words_uncached(name, stem, out);
    size_t n = strlen(out);
    if (n < WORDS_OUT) {
        memcpy(slot->name, name, len + 1);
        memcpy(slot->out, out, n + 1);
        slot->stem = (unsigned char)stem;
        slot->valid = 1;
    }
}

static void words_uncached(const char *name, int stem, char out[T2S_PHRASE])
{
    char buf[T2S_PHRASE];
    size_t n = 0;
    for (const char *p = name; *p && n + 2 < T2S_PHRASE; p++) {
        unsigned char c = (unsigned char)*p;
        if (!isalnum(c) && c < 0x80) {
            if (n && buf[n - 1] != ' ')
                buf[n++] = ' ';
            continue;
        }
        int camel = p > name && isupper(c) &&
                    (islower((unsigned char)p[-1]) || isdigit((unsigned char)p[-1]) ||
                     (isupper((unsigned char)p[-1]) && islower((unsigned char)p[1])));
        if (camel && n && buf[n - 1] != ' ')
            buf[n++] = ' ';
        buf[n++] = (char)tolower(c);
    }
    while (n && buf[n - 1] == ' ')
        n--;
    buf[n] = '\0';
    if (!stem) {
        memcpy(out, buf, n + 1);
        return;
    }
    /* Stem each word. */
    size_t o = 0;
    char *save = NULL;
    out[0] = '\0';
    for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        char s[T2S_WORD];
        t2s_stem_(w, s);
        int wrote = snprintf(out + o, T2S_PHRASE - o, "%s%s", o ? " " : "", s);
        if (wrote < 0 || (size_t)wrote >= T2S_PHRASE - o)
            break;
        o += (size_t)wrote;
    }
}

/* ------------------------------------------------------------------------ */

static int number_word(const char *w, double *value, int *scale)
{
    static const char *const small[] = {"zero",    "one",     "two",       "three",    "four",
                                        "five",    "six",     "seven",     "eight",    "nine",
                                        "ten",     "eleven",  "twelve",    "thirteen", "fourteen",
                                        "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"};
    static const char *const tens[] = {"twenty", "thirty",  "forty",  "fifty",
                                       "sixty",  "seventy", "eighty", "ninety"};
    *scale = 0;
    for (int i = 0; i < 20; i++)
        if (strcmp(w, small[i]) == 0) {
            *value = i;
            return 1;
        }
    for (int i = 0; i < 8; i++)
        if (strcmp(w, tens[i]) == 0) {
            *value = 20 + 10 * i;
            return 1;
        }
    if (strcmp(w, "dozen") == 0)
        return *value = 12, 1;
    if (strcmp(w, "hundred") == 0)
        return *scale = 100, 1;
    if (strcmp(w, "thousand") == 0)
        return *scale = 1000, 1;
    if (strcmp(w, "million") == 0)
        return *scale = 1000000, 1;
    return 0;
}

static int month_of(const char *w)
{
    static const char *const months[] = {"january",   "february", "march",    "april",
                                         "may",       "june",     "july",     "august",
                                         "september", "october",  "november", "december"};
    for (int i = 0; i < 12; i++)
        if (strcmp(w, months[i]) == 0 || (strlen(w) == 3 && strncmp(w, months[i], 3) == 0 &&
                                          strcmp(w, "mar") && strcmp(w, "may")))
            return i + 1;
    return 0;
}

static void push(struct t2s_question *q, int kind, const char *text, size_t len)
{
    if (q->n == T2S_MAX_TOKENS) {
        q->truncated = 1;
        return;
    }
    struct t2s_token *t = &q->tok[q->n++];
    memset(t, 0, sizeof(*t));
    t->kind = kind;
    if (len >= T2S_WORD)
        len = T2S_WORD - 1;
    memcpy(t->orig, text, len);
    t->orig[len] = '\0';
    for (size_t i = 0; i <= len; i++)
        t->text[i] = kind == T2S_TK_QUOTED ? t->orig[i] : (char)tolower((unsigned char)t->orig[i]);
    if (kind == T2S_TK_NUMBER) {
        char digits[T2S_WORD];
        size_t d = 0;
        for (size_t i = 0; i < len && d + 1 < sizeof(digits); i++)
            if (t->text[i] != ',' && t->text[i] != '$')
                digits[d++] = t->text[i];
        digits[d] = '\0';
        t->number = strtod(digits, NULL);
        snprintf(t->stem, T2S_WORD, "%s", digits);
        return;
    }
    if (kind == T2S_TK_WORD) {
        t2s_stem_(t->text, t->stem);
        t->month = month_of(t->text);
    }
}

/* "twenty five" -> 25, "two hundred" -> 200, "a dozen" -> 12 (the words become one number). */
static void fold_number_words(struct t2s_question *q)
{
    size_t out = 0;
    for (size_t i = 0; i < q->n;) {
        double value = 0, v;
        int scale, any = 0;
        size_t j = i;
        while (j < q->n && q->tok[j].kind == T2S_TK_WORD &&
               number_word(q->tok[j].text, &v, &scale)) {
            if (scale)
                value = (any ? value : 1) * scale;
            else
                value += v;
            any = 1;
            j++;
        }
        if (!any) {
            q->tok[out++] = q->tok[i++];
            continue;
        }
        struct t2s_token t = q->tok[i];
        t.kind = T2S_TK_NUMBER;
        t.number = value;
        snprintf(t.text, T2S_WORD, "%g", value);
        snprintf(t.stem, T2S_WORD, "%g", value);
        q->tok[out++] = t;
        i = j;
    }
    q->n = out;
}

static int word_byte(unsigned char c)
{
    return isalnum(c) || c >= 0x80 || c == '_' || c == '&' || c == '/';
}

int t2s_normalize_(const char *question, struct t2s_question *q)
{
    memset(q, 0, sizeof(*q));
    const char *p = question;
    int words = 0;
    while (*p) {
        unsigned char c = (unsigned char)*p;
        if ((c == '\'' || c == '"') && (p == question || !word_byte((unsigned char)p[-1]))) {
            const char *end = strchr(p + 1, c);
            if (end && end > p + 1) {
                push(q, T2S_TK_QUOTED, p + 1, (size_t)(end - p - 1));
                words++;
                p = end + 1;
                continue;
            }
        }
        if (isdigit(c) || ((c == '$' || c == '-' || c == '.') && isdigit((unsigned char)p[1]))) {
            const char *s = p;
            p++;
            while (isdigit((unsigned char)*p) || *p == '.' || *p == ',' ||
                   (*p == '-' && isdigit((unsigned char)p[1]) && s[0] != '$'))
                p++;
            while (p > s && (p[-1] == '.' || p[-1] == ','))
                p--;
            int dashed = memchr(s + 1, '-', (size_t)(p - s - 1)) != NULL;
            push(q, dashed ? T2S_TK_WORD : T2S_TK_NUMBER, s, (size_t)(p - s));
            if (*p == '%')
                p++;
            words++;
            continue;
        }
        if (word_byte(c)) {
            const char *s = p;
            while (word_byte((unsigned char)*p) ||
                   ((*p == '-' || *p == '.') && word_byte((unsigned char)p[1]) &&
                    !isdigit((unsigned char)p[1])))
                p++;
            size_t len = (size_t)(p - s);
            if (*p == '\'' && (p[1] == 's' || p[1] == 'S') && !word_byte((unsigned char)p[2]))
                p += 2; /* possessive */
            push(q, T2S_TK_WORD, s, len);
            words++;
            continue;
        }
        p++;
    }
    fold_number_words(q);
    return words ? 0 : -1;
}
