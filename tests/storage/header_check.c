/* Compiles the public storage headers alone, without config.h or feature-test macros, as a
 * glue file under strict -std=c11 would include them. Linked into store_bench. */
#include "storage/store.h"
#include "storage/index.h"

size_t storage_header_check(void);

size_t storage_header_check(void)
{
	struct store_req r;

	return sizeof r.part_path + sizeof(struct index_instance);
}
