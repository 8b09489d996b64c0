#!/bin/bash
# Query/Retrieve against dcmtk's findscu, movescu (storescp as the destination) and getscu:
# every level in both models, the matching rules, C-CANCEL, C-MOVE to an unknown AE, a
# C-GET of a whole study compared byte for byte with what was stored, and finding an SR.
. "$(dirname "$0")/lib.sh"
DSBYTES="$top_builddir/tests/integration/dsbytes"
F=$PYDICOM_FILES
DEST_PORT=$(( $(pick_port) + 1 ))
MR_STUDY=1.3.6.1.4.1.5962.1.2.4.20040826185059.5457
CT_STUDY=1.3.6.1.4.1.5962.1.2.1.20040119072730.12322
SR_STUDY=1.2.276.0.7230010.3.1.4.2139363186.7819.982086466.2

EXTRA_CONFIG="
[peer archive]
ae_title = ARCHIVE
host = 127.0.0.1
port = $DEST_PORT

[peer nomove]
ae_title = NOMOVE
services = echo,find
" start_daemon

# Content: an MR series of 12 slices, a CT image, an SR.
mkdir -p "$T/in"
for i in $(seq 1 12); do
	cp "$F/MR_small.dcm" "$T/in/mr$i.dcm"
	dcmodify -nb -imt -m "(0008,0018)=1.2.826.0.1.3680043.9.7777.20.$i" -m "(0020,0013)=$i" \
		"$T/in/mr$i.dcm" >/dev/null 2>&1 || fail dcmodify
done
cp "$F/CT_small.dcm" "$F/test-SR.dcm" "$T/in/"
storescu -aet MODALITY -aec DICOMAID 127.0.0.1 "$PORT" "$T"/in/*.dcm || fail "storescu"
ok "stored 14 instances"

# find LEVEL MODEL KEYS...: runs findscu, leaves responses in $T/find/rsp*.dcm, prints count.
find_count() {
	local model=$1; shift
	rm -rf "$T/find"; mkdir -p "$T/find"
	(cd "$T/find" && findscu -aet PACS -aec DICOMAID $model -X 127.0.0.1 "$PORT" "$@" \
		>"$T/find.out" 2>&1) || { cat "$T/find.out"; fail "findscu $*"; }
	ls "$T/find" | grep -c '^rsp' || true
}
val() { dcmdump -q +P "$2" "$1" | sed 's/.*\[\(.*\)\].*/\1/' | head -1; }

# Study Root, STUDY level: all studies, and a wildcard on the patient name.
n=$(find_count -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k PatientName -k StudyDate \
	-k ModalitiesInStudy -k NumberOfStudyRelatedInstances)
[ "$n" = 3 ] || fail "study level: $n matches, expected 3"
n=$(find_count -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k "PatientName=Compressed*MR1" \
	-k NumberOfStudyRelatedInstances -k ModalitiesInStudy)
[ "$n" = 1 ] || fail "wildcard: $n matches"
[ "$(val "$T/find/rsp0001.dcm" 0020,000d)" = "$MR_STUDY" ] || fail "wildcard matched the wrong study"
[ "$(val "$T/find/rsp0001.dcm" 0020,1208)" = 12 ] || fail "NumberOfStudyRelatedInstances"
[ "$(val "$T/find/rsp0001.dcm" 0008,0061)" = MR ] || fail "ModalitiesInStudy"
ok "study level (Study Root): all, wildcard, derived counts"

# Person names case-insensitively (default), ranges, UID lists.
n=$(find_count -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k "PatientName=compressedsamples^ct1")
[ "$n" = 1 ] || fail "case-insensitive name: $n"
n=$(find_count -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k "StudyDate=20040101-20040301")
[ "$n" = 1 ] || fail "date range: $n"
n=$(find_count -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k "StudyDate=20040501-")
[ "$n" = 1 ] || fail "open date range: $n"
n=$(find_count -S -k QueryRetrieveLevel=STUDY -k "StudyInstanceUID=$MR_STUDY\\$CT_STUDY")
[ "$n" = 2 ] || fail "UID list: $n"
n=$(find_count -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k "ModalitiesInStudy=CT")
[ "$n" = 1 ] || fail "ModalitiesInStudy match: $n"
ok "matching: case-insensitive PN, ranges (closed, open), UID list, ModalitiesInStudy"

# Patient Root: PATIENT, STUDY, SERIES, IMAGE levels.
n=$(find_count -P -k QueryRetrieveLevel=PATIENT -k PatientID -k PatientName)
[ "$n" = 3 ] || fail "patient level: $n"
n=$(find_count -P -k QueryRetrieveLevel=STUDY -k PatientID=4MR1 -k StudyInstanceUID)
[ "$n" = 1 ] || fail "patient root study level: $n"
n=$(find_count -P -k QueryRetrieveLevel=SERIES -k PatientID=4MR1 -k "StudyInstanceUID=$MR_STUDY" \
	-k SeriesInstanceUID -k Modality -k NumberOfSeriesRelatedInstances)
[ "$n" = 1 ] || fail "series level: $n"
[ "$(val "$T/find/rsp0001.dcm" 0020,1209)" = 12 ] || fail "NumberOfSeriesRelatedInstances"
series=$(val "$T/find/rsp0001.dcm" 0020,000e)
n=$(find_count -P -k QueryRetrieveLevel=IMAGE -k PatientID=4MR1 -k "StudyInstanceUID=$MR_STUDY" \
	-k "SeriesInstanceUID=$series" -k SOPInstanceUID -k InstanceNumber)
[ "$n" = 12 ] || fail "image level: $n"
ok "Patient Root: PATIENT, STUDY, SERIES, IMAGE levels"

# Study Root SERIES and IMAGE; the SR found by its SOP Class at IMAGE level.
n=$(find_count -S -k QueryRetrieveLevel=SERIES -k "StudyInstanceUID=$SR_STUDY" -k SeriesInstanceUID -k "Modality=SR")
[ "$n" = 1 ] || fail "SR series: $n"
sr_series=$(val "$T/find/rsp0001.dcm" 0020,000e)
n=$(find_count -S -k QueryRetrieveLevel=IMAGE -k "StudyInstanceUID=$SR_STUDY" -k "SeriesInstanceUID=$sr_series" \
	-k "SOPClassUID=1.2.840.10008.5.1.4.1.1.88.33" -k SOPInstanceUID)
[ "$n" = 1 ] || fail "SR instance by SOP Class: $n"
ok "Study Root SERIES/IMAGE; SR found by its SOP Class"

# Bad identifiers: a key not allowed at the level, no level at all.
(cd "$T" && findscu -v -aet PACS -aec DICOMAID -S 127.0.0.1 "$PORT" -k QueryRetrieveLevel=STUDY \
	-k SOPInstanceUID=1.2.3 >"$T/bad.out" 2>&1) || true
grep -q 'Final Find Response (Error: DataSetDoesNotMatchSOPClass)' "$T/bad.out" || { cat "$T/bad.out"; fail "key at the wrong level not refused"; }
(cd "$T" && findscu -v -aet PACS -aec DICOMAID -S 127.0.0.1 "$PORT" -k PatientName >"$T/bad.out" 2>&1) || true
grep -q 'Final Find Response (Error:' "$T/bad.out" || { cat "$T/bad.out"; fail "missing level not refused"; }
grep -q 'event=qr_refused' "$T/daemon.log" || fail "no qr_refused log line"
ok "bad identifiers refused with a failure status"

# C-MOVE to an unknown AE: A801.
movescu -v -aet PACS -aec DICOMAID -aem NOSUCHAE -S 127.0.0.1 "$PORT" \
	-k QueryRetrieveLevel=STUDY -k "StudyInstanceUID=$MR_STUDY" >"$T/move.out" 2>&1 || true
grep -qiE 'a801|MoveDestinationUnknown' "$T/move.out" || { cat "$T/move.out"; fail "unknown destination not A801"; }
ok "C-MOVE to an unknown AE: A801"

# A peer without the move service.
movescu -v -aet NOMOVE -aec DICOMAID -aem ARCHIVE -S 127.0.0.1 "$PORT" \
	-k QueryRetrieveLevel=STUDY -k "StudyInstanceUID=$MR_STUDY" >"$T/move.out" 2>&1 || true
grep -qiE '0x0?124|not ?authorized|NotAuthorized' "$T/move.out" || { cat "$T/move.out"; fail "move by NOMOVE not refused"; }
ok "C-MOVE refused (0124) for a peer without the move service"

# C-MOVE of the MR study to a storescp.
mkdir -p "$T/archive"
storescp -aet ARCHIVE -od "$T/archive" "$DEST_PORT" >"$T/storescp.log" 2>&1 & scp_pid=$!
for _ in $(seq 1 50); do (echo > /dev/tcp/127.0.0.1/$DEST_PORT) 2>/dev/null && break; sleep 0.1; done
movescu -v -aet PACS -aec DICOMAID -aem ARCHIVE -S 127.0.0.1 "$PORT" \
	-k QueryRetrieveLevel=STUDY -k "StudyInstanceUID=$MR_STUDY" >"$T/move.out" 2>&1 || { cat "$T/move.out"; fail "movescu"; }
kill $scp_pid; wait $scp_pid 2>/dev/null || true
[ "$(ls "$T/archive" | wc -l)" = 12 ] || { ls "$T/archive"; cat "$T/move.out"; fail "archive did not receive 12 instances"; }
grep -q 'event=move dest=ARCHIVE instances=12 completed=12 failed=0' "$T/daemon.log" || fail "no move log line"
for f in "$T"/archive/*; do
	uid=$(val "$f" 0008,0018)
	stored=$(ls "$T"/data/$MR_STUDY/*/"$uid.dcm")
	cmp <("$DSBYTES" "$f") <("$DSBYTES" "$stored") || fail "moved $uid differs"
done
ok "C-MOVE of a 12-instance study: all arrive, byte-identical data sets"

# C-GET of the whole MR study, compared byte for byte.
mkdir -p "$T/get"
getscu -v -aet PACS -aec DICOMAID -S -od "$T/get" 127.0.0.1 "$PORT" \
	-k QueryRetrieveLevel=STUDY -k "StudyInstanceUID=$MR_STUDY" >"$T/get.out" 2>&1 || { cat "$T/get.out"; fail "getscu"; }
[ "$(ls "$T/get" | wc -l)" = 12 ] || { cat "$T/get.out"; fail "C-GET returned $(ls "$T/get" | wc -l) files"; }
for f in "$T"/get/*; do
	uid=$(val "$f" 0008,0018)
	stored=$(ls "$T"/data/$MR_STUDY/*/"$uid.dcm")
	cmp <("$DSBYTES" "$f") <("$DSBYTES" "$stored") || fail "C-GET $uid differs"
done
ok "C-GET of a 12-instance study: byte-identical data sets"

# C-CANCEL: a 5000-study index (generated rows, no files), cancelled after 3 responses.
stop_daemon || fail "exit status"
rm -rf "$T/data"; mkdir -p "$T/data"
"$top_builddir/tests/query/gen_index" "$T/data/index.sqlite" 5000 1 1 >/dev/null || fail gen_index
start_daemon
rm -rf "$T/find"; mkdir -p "$T/find"
(cd "$T/find" && findscu -v -aet PACS -aec DICOMAID -S --cancel 3 -X 127.0.0.1 "$PORT" \
	-k QueryRetrieveLevel=STUDY -k StudyInstanceUID -k PatientName >"$T/cancel.out" 2>&1) || true
grep -q 'Final Find Response (Cancel' "$T/cancel.out" || { tail -5 "$T/cancel.out"; fail "no cancel status"; }
got=$(ls "$T/find" | wc -l)
[ "$got" -lt 5000 ] || fail "cancel did not stop the query ($got responses)"
grep -q 'event=find .*outcome=cancelled' "$T/daemon.log" || fail "no cancelled log line"
ok "C-CANCEL stops a C-FIND of 5000 matches after $got responses"

stop_daemon || fail "exit status"
