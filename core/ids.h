/* Identifiers and timestamps in the forms the API uses. */
#ifndef QUARRY_IDS_H
#define QUARRY_IDS_H

#include <stddef.h>
#include <time.h>

#define ID_UUID_LEN 36
#define ID_TIME_LEN 24 /* "2026-11-29T14:37:57.123Z" */

/* A random (version 4) UUID, lower case, into `out` (ID_UUID_LEN + 1 bytes). */
void id_uuid4(char *out);
/* 1 if `s` is a UUID in canonical 8-4-4-4-12 hex form (any version, any case). */
int id_is_uuid(const char *s);
/* Lower-cases a UUID in place (UUIDs compare case-insensitively; Quarry stores lower case). */
void id_uuid_lower(char *s);

/* The current time as RFC 3339 UTC with milliseconds, into `out` (ID_TIME_LEN + 1). */
void id_time_now(char *out);
/* `t` (seconds) as RFC 3339 UTC without fraction, into `out` (ID_TIME_LEN + 1). */
void id_time_format(time_t t, char *out);

#endif
