/*
 * The one CUnit runner. `quarry_tests [SUITE...]` runs every suite, or only
 * the named ones. Ends with CUnit's summary and a line "N passed, N failed".
 */
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "harness.h"
#include "suites.h"

static void register_all(void)
{
#define QUARRY_CALL_AREA(name) register_##name##_tests();
    QUARRY_TEST_AREAS(QUARRY_CALL_AREA)
#undef QUARRY_CALL_AREA
}

static void deactivate_unselected(int argc, char **argv)
{
    if (argc < 2)
        return;
    for (CU_pSuite s = CU_get_registry()->pSuite; s; s = s->pNext) {
        int wanted = 0;
        for (int i = 1; i < argc; i++)
            if (strcmp(s->pName, argv[i]) == 0)
                wanted = 1;
        CU_set_suite_active(s, wanted);
    }
}

int main(int argc, char **argv)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    harness_global_init();
    register_all();
    deactivate_unselected(argc, argv);

    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    /* A suite whose setup failed ran none of its tests: count it as a failure. */
    unsigned failed = CU_get_number_of_tests_failed() + CU_get_number_of_suites_failed();
    unsigned run = CU_get_number_of_tests_run();
    unsigned asserts_failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    harness_global_cleanup();

    printf("\n%u passed, %u failed\n", run - failed, failed);
    return (failed || asserts_failed) ? 1 : 0;
}
