/*
 * A small tag dictionary and VR facts. Implicit VR data sets (PS3.5 7.1.3) carry no VR, so the
 * parser asks dcm_dict_vr() for the tags dicomaid cares about: the DIMSE command group 0000
 * (PS3.7 E.1), the indexed attributes of attrs.h, the image pixel module, and the common
 * sequences; anything else is reported as "UN". Pure, static tables only.
 */
#ifndef DICOMAID_DICOM_DICT_H
#define DICOMAID_DICOM_DICT_H

#include <stdbool.h>
#include <stdint.h>

#define DCM_TAG(g, e) ((uint32_t)(g) << 16 | (uint32_t)(e))
#define DCM_GROUP(t) ((uint16_t)((t) >> 16))
#define DCM_ELEMENT(t) ((uint16_t)((t) & 0xFFFF))

/* Item and delimitation tags (PS3.5 7.5). */
#define DCM_TAG_ITEM DCM_TAG(0xFFFE, 0xE000)
#define DCM_TAG_ITEM_DELIM DCM_TAG(0xFFFE, 0xE00D)
#define DCM_TAG_SEQ_DELIM DCM_TAG(0xFFFE, 0xE0DD)
#define DCM_TAG_PIXEL_DATA DCM_TAG(0x7FE0, 0x0010)

/* The VR (two upper-case letters, static string) of `tag` in the built-in dictionary;
 * group lengths (gggg,0000) are "UL" and private creators (odd gggg,0010-00FF) "LO";
 * "UN" for anything unknown. Never NULL. */
const char *dcm_dict_vr(uint32_t tag);

/* True if `vr` uses the 2 reserved bytes + 32-bit length form in explicit VR
 * (PS3.5 7.1.2: OB OD OF OL OV OW SQ SV UC UN UR UT UV). VRs not defined by PS3.5 also
 * count as long (every VR added since 2007 used that form). `vr` points at 2 chars. */
bool dcm_vr_is_long(const char *vr);

/* True if `vr` is one of the VRs of PS3.5 6.2. */
bool dcm_vr_known(const char *vr);

#endif
