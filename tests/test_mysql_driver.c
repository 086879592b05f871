/* Placeholder until this area's tests land; registers nothing. */
void register_mysql_driver_tests(void);
void register_mysql_driver_tests(void)
{
}
