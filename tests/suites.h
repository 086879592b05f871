/* Every test area registers its CUnit suites through one function here. */
#ifndef QUARRY_TEST_SUITES_H
#define QUARRY_TEST_SUITES_H

#define QUARRY_TEST_AREAS(X)                                                                       \
    X(log)                                                                                         \
    X(secrets)                                                                                     \
    X(guard)                                                                                       \
    X(dburl)                                                                                       \
    X(router)                                                                                      \
    X(http)                                                                                        \
    X(config)                                                                                      \
    X(server)                                                                                      \
    X(api_connections)                                                                             \
    X(api_security)                                                                                \
    X(api_dataherald)                                                                              \
    X(api_analysis)                                                                                \
    X(api_analysis_more)                                                                           \
    X(api_text2sql)                                                                                \
    X(loader)                                                                                      \
    X(sqlite_driver)                                                                               \
    X(postgres_driver)                                                                             \
    X(mysql_driver)                                                                                \
    X(mongodb_driver)                                                                              \
    X(pool)                                                                                        \
    X(sqlsafety)                                                                                   \
    X(llm)                                                                                         \
    X(graph)                                                                                       \
    X(sqlgen)                                                                                      \
    X(samples)                                                                                     \
    X(profile)                                                                                     \
    X(semantic)                                                                                    \
    X(export)                                                                                      \
    X(search)                                                                                      \
    X(t2s)                                                                                         \
    X(t2s_accuracy)                                                                                \
    X(t2s_dialects)                                                                                \
    X(auth)                                                                                        \
    X(registry_upgrade)

#define QUARRY_DECLARE_AREA(name) void register_##name##_tests(void);
QUARRY_TEST_AREAS(QUARRY_DECLARE_AREA)
#undef QUARRY_DECLARE_AREA

#endif
