#include <criterion/criterion.h>
Test(writer, placeholder) { cr_assert(1); }
