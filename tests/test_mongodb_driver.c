/* Placeholder until this area's tests land; registers nothing. */
void register_mongodb_driver_tests(void);
void register_mongodb_driver_tests(void)
{
}
