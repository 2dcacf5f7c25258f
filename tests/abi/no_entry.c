/* A shared library that is not a diorama plugin: it exports a function, but not dio_plugin_entry. */
__attribute__((visibility("default"))) int not_a_plugin(void);
int not_a_plugin(void)
{
    return 42;
}
