/*
 * The built-in dictionary (VRs from PS3.6 section 6 and PS3.7 E.1). Kept sorted by tag so a
 * binary search finds an entry; tests/dicom/parser_test.c checks the order. Only attributes
 * with a single fixed VR are listed (US/SS-ambiguous ones are left as "UN").
 */
#include <stddef.h>
#include <string.h>

#include "dicom/dict.h"

struct dict_entry {
	uint32_t tag;
	char vr[3];
};

static const struct dict_entry dict[] = {
	/* PS3.7 E.1 command elements */
	{0x00000000, "UL"}, {0x00000002, "UI"}, {0x00000003, "UI"}, {0x00000100, "US"},
	{0x00000110, "US"}, {0x00000120, "US"}, {0x00000600, "AE"}, {0x00000700, "US"},
	{0x00000800, "US"}, {0x00000900, "US"}, {0x00000901, "AT"}, {0x00000902, "LO"},
	{0x00000903, "US"}, {0x00001000, "UI"}, {0x00001001, "UI"}, {0x00001002, "US"},
	{0x00001005, "AT"}, {0x00001008, "US"}, {0x00001020, "US"}, {0x00001021, "US"},
	{0x00001022, "US"}, {0x00001023, "US"}, {0x00001030, "AE"}, {0x00001031, "US"},
	/* group 0002 (PS3.10 7.1) */
	{0x00020001, "OB"}, {0x00020002, "UI"}, {0x00020003, "UI"}, {0x00020010, "UI"},
	{0x00020012, "UI"}, {0x00020013, "SH"}, {0x00020016, "AE"},
	/* group 0008 */
	{0x00080005, "CS"}, {0x00080008, "CS"}, {0x00080012, "DA"}, {0x00080013, "TM"},
	{0x00080014, "UI"}, {0x00080016, "UI"}, {0x00080018, "UI"}, {0x00080020, "DA"},
	{0x00080021, "DA"}, {0x00080022, "DA"}, {0x00080023, "DA"}, {0x00080030, "TM"},
	{0x00080031, "TM"}, {0x00080032, "TM"}, {0x00080033, "TM"}, {0x00080050, "SH"},
	{0x00080052, "CS"}, {0x00080054, "AE"}, {0x00080056, "CS"}, {0x00080060, "CS"},
	{0x00080061, "CS"}, {0x00080062, "UI"}, {0x00080070, "LO"}, {0x00080080, "LO"},
	{0x00080090, "PN"}, {0x00080100, "SH"}, {0x00080102, "SH"}, {0x00080104, "LO"},
	{0x00081030, "LO"}, {0x00081032, "SQ"}, {0x0008103E, "LO"}, {0x00081090, "LO"},
	{0x00081110, "SQ"}, {0x00081111, "SQ"}, {0x00081115, "SQ"}, {0x00081140, "SQ"},
	{0x00081150, "UI"}, {0x00081155, "UI"}, {0x00081199, "SQ"}, {0x00081250, "SQ"},
	{0x00082112, "SQ"}, {0x00089215, "SQ"},
	/* group 0010 */
	{0x00100010, "PN"}, {0x00100020, "LO"}, {0x00100030, "DA"}, {0x00100040, "CS"},
	{0x00101010, "AS"},
	/* group 0018 */
	{0x00180015, "CS"}, {0x00180050, "DS"}, {0x00180087, "DS"}, {0x00180088, "DS"},
	/* group 0020 */
	{0x0020000D, "UI"}, {0x0020000E, "UI"}, {0x00200010, "SH"}, {0x00200011, "IS"},
	{0x00200012, "IS"}, {0x00200013, "IS"}, {0x00200032, "DS"}, {0x00200037, "DS"},
	{0x00200052, "UI"}, {0x00201041, "DS"}, {0x00201206, "IS"}, {0x00201208, "IS"},
	{0x00201209, "IS"},
	/* group 0028 (image pixel module, PS3.3 C.7.6.3) */
	{0x00280002, "US"}, {0x00280004, "CS"}, {0x00280006, "US"}, {0x00280008, "IS"},
	{0x00280010, "US"}, {0x00280011, "US"}, {0x00280030, "DS"}, {0x00280100, "US"},
	{0x00280101, "US"}, {0x00280102, "US"}, {0x00280103, "US"}, {0x00281050, "DS"},
	{0x00281051, "DS"}, {0x00281052, "DS"}, {0x00281053, "DS"}, {0x00281054, "LO"},
	/* group 0040 (SR content, request attributes) */
	{0x00400275, "SQ"}, {0x0040A010, "CS"}, {0x0040A040, "CS"}, {0x0040A043, "SQ"},
	{0x0040A160, "UT"}, {0x0040A168, "SQ"}, {0x0040A300, "SQ"}, {0x0040A730, "SQ"},
	/* functional groups (enhanced MR) */
	{0x52009229, "SQ"}, {0x52009230, "SQ"},
	{0x7FE00010, "OW"},
	{0xFFFCFFFC, "OB"},
};

const char *dcm_dict_vr(uint32_t tag)
{
	size_t lo = 0, hi = sizeof dict / sizeof dict[0];
	uint16_t g = DCM_GROUP(tag), e = DCM_ELEMENT(tag);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (dict[mid].tag == tag)
			return dict[mid].vr;
		if (dict[mid].tag < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (e == 0x0000)
		return "UL"; /* group length, PS3.5 7.2 */
	if ((g & 1) && e >= 0x0010 && e <= 0x00FF)
		return "LO"; /* private creator, PS3.5 7.8.1 */
	return "UN";
}

/* Exposed to the test to check the table is sorted. */
int dcm_dict_check_sorted_(void);
int dcm_dict_check_sorted_(void)
{
	for (size_t i = 1; i < sizeof dict / sizeof dict[0]; i++)
		if (dict[i - 1].tag >= dict[i].tag)
			return -1;
	return 0;
}

static const char long_vrs[] = "OBODOFOLOVOWSQSVUCUNURUTUV";
static const char all_vrs[] = "AEASATCSDADSDTFLFDISLOLTOBODOFOLOVOWPNSHSLSQSSSTSVTMUCUIULUNURUSUTUV";

static bool vr_in(const char *list, const char *vr)
{
	for (size_t i = 0; list[i]; i += 2)
		if (list[i] == vr[0] && list[i + 1] == vr[1])
			return true;
	return false;
}

bool dcm_vr_known(const char *vr)
{
	return vr_in(all_vrs, vr);
}

bool dcm_vr_is_long(const char *vr)
{
	return vr_in(long_vrs, vr) || !dcm_vr_known(vr);
}
