#!/bin/bash
# Bad input and a busy daemon (issue 5): a series whose Pixel Data is shorter than its header
# says (the data set still parses), and a JPEG-LS series with a truncated compressed frame,
# each end 'failed' after one attempt with a reason naming the image, nothing crashes, and
# good series sent after them are analysed and delivered. While the workers (default count) are busy, C-ECHO is answered within 2 s.
# The SR (and GSPS, when the model found a lesion) that the PACS receives passes dicom3tools'
# dciodvfy with no "Error" line and reads with dsrdump.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/analysis_lib.sh"
ANALYSIS=yes

start_pacs pacs
EXTRA_CONFIG="
[analysis]
stable_seconds = 1
$(destination pacs "$PACS_PORT_pacs")
" start_daemon
wait_analysis_ready
grep -q "event=analysis_ready .* workers=$(nproc) " "$T/daemon.log" ||
	fail "default worker count is not the number of cores ($(nproc))"

# ---- a series with one truncated Pixel Data element ----------------------------------------
copy_series "$T/bad" 99
bad_file="$T/bad/IM0029.dcm"
head -c 1000 /dev/urandom > "$T/short.raw"
dcmodify -nb -mf "(7FE0,0010)=$T/short.raw" "$bad_file" >/dev/null 2>&1 || fail "dcmodify pixel data"
bad_sop=$(tag "$bad_file" 0008,0018)
bad_series=$(tag "$bad_file" 0020,000E)
need=$(( $(tag "$bad_file" 0028,0010) * $(tag "$bad_file" 0028,0011) * 2 ))
storescu -aet MODALITY -aec DICOMAID 127.0.0.1 "$PORT" "$T"/bad/*.dcm || fail "storescu bad series"
q="from analyses a join series s on s.id = a.series_ref where s.series_uid = '$bad_series'"
wait_for 20 sql_is "select a.state $q" failed ||
	{ sql "select a.state, a.attempts, a.last_error $q"; fail "corrupt series did not end failed"; }
err=$(sql "select a.last_error $q")
case "$err" in
*"$bad_sop"*"pixel data is 1000 bytes, $need needed"*) ;;
*) fail "unclear last_error: '$err'" ;;
esac
[ "$(sql "select a.attempts $q")" = 1 ] || fail "a corrupt file was retried"
grep -q "event=analysis_failed .*series=$bad_series .*retry=no" "$T/daemon.log" ||
	fail "failure not logged"
kill -0 "$DAEMON_PID" || fail "daemon died"
echoscu -aec DICOMAID 127.0.0.1 "$PORT" || fail "C-ECHO after the failed job"
ok "corrupt series: failed once, last_error='$err'; daemon still answers C-ECHO"

# ---- a JPEG-LS series with one truncated compressed frame (decoded by the dcmtk adapter) -----
copy_series "$T/jbad" 98
mkdir -p "$T/jls"
for f in "$T"/jbad/*.dcm; do dcmcjpls "$f" "$T/jls/$(basename "$f")" || fail "dcmcjpls"; done
jbad_file="$T/jls/IM0030.dcm"
/usr/bin/python3 - "$jbad_file" <<'PY' || fail "truncating the JPEG-LS frame"
import sys
import pydicom
from pydicom.encaps import encapsulate, generate_pixel_data_frame
ds = pydicom.dcmread(sys.argv[1])
frame = next(generate_pixel_data_frame(ds.PixelData))
ds.PixelData = encapsulate([frame[:len(frame) // 3]])  # a third of the bitstream, still even
ds.save_as(sys.argv[1])
PY
dcmdjpls "$jbad_file" "$T/check.dcm" >/dev/null 2>&1 && fail "the truncated frame still decodes"
jbad_series=$(tag "$jbad_file" 0020,000E)
storescu -aet MODALITY -aec DICOMAID -xt 127.0.0.1 "$PORT" "$T"/jls/*.dcm || fail "storescu JPEG-LS"
q="from analyses a join series s on s.id = a.series_ref where s.series_uid = '$jbad_series'"
wait_for 20 sql_is "select a.state $q" failed ||
	{ sql "select a.state, a.attempts, a.last_error $q"; fail "corrupt JPEG-LS series did not end failed"; }
err=$(sql "select a.last_error $q")
case "$err" in
*"$(tag "$jbad_file" 0008,0018)"*) ;;
*) fail "last_error does not name the bad image: '$err'" ;;
esac
[ "$(sql "select a.attempts $q")" = 1 ] || fail "a corrupt JPEG-LS file was retried"
kill -0 "$DAEMON_PID" || fail "daemon died"
echoscu -aec DICOMAID 127.0.0.1 "$PORT" || fail "C-ECHO after the failed JPEG-LS job"
ok "truncated JPEG-LS frame: failed once, last_error='$err'"

# ---- two good series after them; C-ECHO while both workers analyse -------------------------------
stack_series "$T/g1" 81 8
stack_series "$T/g2" 82 8
storescu -aet MODALITY -aec DICOMAID 127.0.0.1 "$PORT" "$T"/g1/*.dcm "$T"/g2/*.dcm || fail "storescu good"
wait_for 20 sql_ge "select count(*) from analyses where state = 'running'" 1 || fail "no analysis started"
echoes=0 max_ms=0
while [ "$(sql "select count(*) from analyses where state = 'running'")" -ge 1 ] && [ $echoes -lt 10 ]; do
	busy=$(sql "select count(*) from analyses where state = 'running'")
	t0=$(date +%s%N)
	echoscu -to 5 -aec DICOMAID 127.0.0.1 "$PORT" || fail "C-ECHO during analysis"
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	[ $ms -gt $max_ms ] && max_ms=$ms
	[ $ms -lt 2000 ] || fail "C-ECHO took $ms ms while $busy workers were busy"
	echoes=$((echoes + 1))
done
[ $echoes -ge 1 ] || fail "no C-ECHO while a worker was busy"
ok "$echoes C-ECHOs during analysis, slowest $max_ms ms"

wait_for 40 sql_is "select count(*) from analyses where state = 'done'" 2 ||
	{ sql "select state, last_error from analyses"; fail "good series not analysed"; }
wait_for 10 sql_is "select count(*) from deliveries where state != 'sent'" 0 ||
	{ sql "select * from deliveries"; fail "results not delivered"; }
[ "$(sql "select count(*) from analyses where state = 'failed'")" = 2 ] || fail "other jobs failed"
[ "$(pacs_count pacs "$SR_CLASS")" = 2 ] || fail "PACS has $(pacs_count pacs "$SR_CLASS") SRs, want 2 (none for the corrupt series)"
n_gsps=$(sql "select count(gsps_uid) from analyses where state = 'done'")
[ "$(pacs_count pacs "$GSPS_CLASS")" = "$n_gsps" ] || fail "PACS has $(pacs_count pacs "$GSPS_CLASS") GSPS, want $n_gsps"
ok "good series analysed and delivered after the corrupt one ($(sql "select sum(lesions) from analyses") lesions, $n_gsps GSPS)"

# ---- the received results validate ----------------------------------------------------------
n_checked=0
for f in "$T"/pacs/*; do
	cls=$(tag "$f" 0008,0016)
	v=$(dciodvfy -new "$f" 2>&1) || true
	if printf '%s\n' "$v" | grep -q '^Error'; then
		printf '%s\n' "$v" | grep '^Error'
		fail "dciodvfy reports errors in $(basename "$f") ($cls)"
	fi
	case "$cls" in
	"$SR_CLASS")
		[ "$(printf '%s\n' "$v" | head -n 1)" = Comprehensive3DSR ] || fail "dciodvfy: not a Comprehensive 3D SR"
		out=$(dsrdump "$f" 2>&1) || fail "dsrdump exit status"
		printf '%s\n' "$out" | grep -E '^(E|F): ' && fail "dsrdump errors"
		printf '%s\n' "$out" | grep -q 'Imaging Measurement Report' || fail "not TID 1500" ;;
	"$GSPS_CLASS")
		[ "$(printf '%s\n' "$v" | head -n 1)" = GrayscaleSoftcopyPresentationState ] ||
			fail "dciodvfy: not a GSPS" ;;
	*) fail "unexpected object at the PACS: $cls" ;;
	esac
	n_checked=$((n_checked + 1))
done
[ $n_checked -ge 2 ] || fail "nothing validated"
ok "dciodvfy: no Error in the $n_checked results received by the PACS"

stop_daemon || fail "exit status"
stop_pacs pacs
