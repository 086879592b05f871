/* Placeholder until this area's tests land; registers nothing. */
void register_loader_tests(void);
void register_loader_tests(void)
{
}
