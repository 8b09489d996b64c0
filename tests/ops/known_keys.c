/* Prints every configuration key the parser accepts (config_known_keys), one a line. */
#include <stdio.h>

#include "util/config.h"

int main(void)
{
	for (size_t i = 0; config_known_keys[i]; i++)
		puts(config_known_keys[i]);
	return 0;
}
