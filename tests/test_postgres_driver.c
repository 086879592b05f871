/* Placeholder until this area's tests land; registers nothing. */
void register_postgres_driver_tests(void);
void register_postgres_driver_tests(void)
{
}
