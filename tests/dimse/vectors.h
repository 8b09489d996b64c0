/*
 * Command-set test vectors (Implicit VR Little Endian, PS3.7 6.3.1): each element is
 * tag group (2, LE) | tag element (2, LE) | value length (4, LE) | value.
 *
 * ECHO_RQ_DCMTK and STORE_RQ_DCMTK are real: the command fragments sent by dcmtk 3.6.7
 * `echoscu` and `storescu` (Debian 12), captured by a throw-away Python acceptor that answered
 * the A-ASSOCIATE-RQ with an AC and saved the PDVs with bit 0 of the message control header
 * set. ECHO_RSP_HAND is written by hand from PS3.7 9.3.5.2 (Table 9.3-13) and E.1-1.
 */
#ifndef DICOMAID_TESTS_DIMSE_VECTORS_H
#define DICOMAID_TESTS_DIMSE_VECTORS_H

#include <stdint.h>

#define VEC_UNUSED __attribute__((unused))

/* C-ECHO-RQ, message ID 1, as sent by dcmtk echoscu. */
static const uint8_t ECHO_RQ_DCMTK[] VEC_UNUSED = {
	/* (0000,0000) UL len 4: Command Group Length = 0x38 = 56 bytes follow */
	0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x38, 0x00, 0x00, 0x00,
	/* (0000,0002) UI len 18: "1.2.840.10008.1.1" + NUL pad (Verification SOP Class) */
	0x00, 0x00, 0x02, 0x00, 0x12, 0x00, 0x00, 0x00,
	'1', '.', '2', '.', '8', '4', '0', '.', '1', '0', '0', '0', '8', '.', '1', '.', '1', 0x00,
	/* (0000,0100) US len 2: Command Field 0030H (C-ECHO-RQ) */
	0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x30, 0x00,
	/* (0000,0110) US len 2: Message ID 1 */
	0x00, 0x00, 0x10, 0x01, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00,
	/* (0000,0800) US len 2: Command Data Set Type 0101H (no data set) */
	0x00, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x00, 0x01, 0x01,
};

/* C-STORE-RQ, message ID 1, MR Image Storage, medium priority, as sent by dcmtk storescu. */
static const uint8_t STORE_RQ_DCMTK[] VEC_UNUSED = {
	/* (0000,0000) UL len 4: group length 0x72 = 114 */
	0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x72, 0x00, 0x00, 0x00,
	/* (0000,0002) UI len 26: "1.2.840.10008.5.1.4.1.1.4" + NUL (MR Image Storage) */
	0x00, 0x00, 0x02, 0x00, 0x1a, 0x00, 0x00, 0x00,
	'1', '.', '2', '.', '8', '4', '0', '.', '1', '0', '0', '0', '8', '.', '5', '.', '1', '.',
	'4', '.', '1', '.', '1', '.', '4', 0x00,
	/* (0000,0100) US: Command Field 0001H (C-STORE-RQ) */
	0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00,
	/* (0000,0110) US: Message ID 1 */
	0x00, 0x00, 0x10, 0x01, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00,
	/* (0000,0700) US: Priority 0 (medium) */
	0x00, 0x00, 0x00, 0x07, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
	/* (0000,0800) US: Command Data Set Type 0001H (data set present; dcmtk's value) */
	0x00, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00,
	/* (0000,1000) UI len 32: "1.2.826.0.1.3680043.2.1125.1.42" + NUL */
	0x00, 0x00, 0x00, 0x10, 0x20, 0x00, 0x00, 0x00,
	'1', '.', '2', '.', '8', '2', '6', '.', '0', '.', '1', '.', '3', '6', '8', '0', '0', '4',
	'3', '.', '2', '.', '1', '1', '2', '5', '.', '1', '.', '4', '2', 0x00,
};

/* C-ECHO-RSP to message ID 1, status Success, by hand from PS3.7 Table 9.3-13:
 * Affected SOP Class UID, Command Field, Message ID Being Responded To, Command Data Set Type,
 * Status, in ascending tag order, preceded by the Command Group Length. */
static const uint8_t ECHO_RSP_HAND[] VEC_UNUSED = {
	/* (0000,0000) UL len 4: group length = (8+18) + 4 * (8+2) = 66 = 0x42 */
	0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x42, 0x00, 0x00, 0x00,
	/* (0000,0002) UI len 18: "1.2.840.10008.1.1" padded with one NUL to even length */
	0x00, 0x00, 0x02, 0x00, 0x12, 0x00, 0x00, 0x00,
	'1', '.', '2', '.', '8', '4', '0', '.', '1', '0', '0', '0', '8', '.', '1', '.', '1', 0x00,
	/* (0000,0100) US: Command Field 8030H (C-ECHO-RSP), little endian 30 80 */
	0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x30, 0x80,
	/* (0000,0120) US: Message ID Being Responded To 1 */
	0x00, 0x00, 0x20, 0x01, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00,
	/* (0000,0800) US: Command Data Set Type 0101H */
	0x00, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x00, 0x01, 0x01,
	/* (0000,0900) US: Status 0000H (Success) */
	0x00, 0x00, 0x00, 0x09, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
};

#endif
