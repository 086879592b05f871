/* Placeholder until this area's tests land; registers nothing. */
void register_sqlite_driver_tests(void);
void register_sqlite_driver_tests(void)
{
}
