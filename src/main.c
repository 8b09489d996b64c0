/* dicomaid: placeholder entry point until the daemon lands. */
#include "util/log.h"

int main(void)
{
	log_info("event=start");
	return 0;
}
