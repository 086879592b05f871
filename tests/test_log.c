#include <CUnit/CUnit.h>

#include "log.h"

static void test_level_parse(void)
{
    CU_ASSERT_EQUAL(log_level_parse("error"), LOG_ERROR);
    CU_ASSERT_EQUAL(log_level_parse("warn"), LOG_WARN);
    CU_ASSERT_EQUAL(log_level_parse("info"), LOG_INFO);
    CU_ASSERT_EQUAL(log_level_parse("debug"), LOG_DEBUG);
    CU_ASSERT_EQUAL(log_level_parse("verbose"), -1);
    CU_ASSERT_EQUAL(log_level_parse(""), -1);
    CU_ASSERT_EQUAL(log_level_parse(NULL), -1);
}

void register_log_tests(void)
{
    CU_pSuite s = CU_add_suite("log", NULL, NULL);
    CU_add_test(s, "level names parse, others refused", test_level_parse);
}
