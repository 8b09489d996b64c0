#include <criterion/criterion.h>
Test(files, placeholder) { cr_assert(1); }
