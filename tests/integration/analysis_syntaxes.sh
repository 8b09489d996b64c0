#!/bin/bash
# Transfer syntaxes and analysis (issue 5):
#  (a) every compressed or non-default transfer syntax the SCP accepts is decoded: the
#      simulated study, transcoded by dcmtk (JPEG lossless process 14 and its first-order
#      prediction, JPEG-LS lossless and near-lossless, RLE, JPEG
#      baseline and extended) and sent with dcmsend without decompression, is stored in that
#      syntax and gives the findings of the original: the same study probability and lesions
#      (type, probability to 1e-4, centre to 0.01 mm) for the lossless syntaxes, the same lesion count and type with
#      a centre within 3 mm for the lossy ones.
#  (b) JPEG 2000, which the SCP does not accept, cannot arrive over the network (dcmsend
#      finds no accepted presentation context, nothing is stored). A JPEG 2000 series can only
#      be in the storage if it was put there some other way; such a series (here: a series
#      received uncompressed while analysis was off, whose files are then replaced by real
#      lossless JPEG 2000 encodings of the same images, index updated to match) ends
#      'not-applicable' with the reason "unsupported transfer syntax 1.2.840.10008.1.2.4.90
#      ...", after one attempt, not 'failed'.
# JPEG 2000 files are written with pydicom and Pillow's OpenJPEG encoder (python3-pydicom,
# python3-pil, python3-numpy).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/analysis_lib.sh"
ANALYSIS=yes
J2K=1.2.840.10008.1.2.4.90

EXTRA_CONFIG="
[analysis]
stable_seconds = 1
workers = 1
" start_daemon
wait_analysis_ready

# variant NAME SUFFIX TS COMMAND...: the fixture as series SUFFIX, transcoded by COMMAND.
declare -A V_TS V_SERIES
variant() {
	local name=$1 sfx=$2 ts=$3 f
	shift 3
	copy_series "$T/u.$name" "$sfx"
	mkdir -p "$T/v.$name"
	for f in "$T/u.$name"/*.dcm; do
		"$@" "$f" "$T/v.$name/$(basename "$f")" >/dev/null 2>&1 || fail "$name: $* failed"
	done
	[ "$(tag "$T/v.$name/IM0028.dcm" 0002,0010)" = "$ts" ] || fail "$name: not transcoded to $ts"
	V_TS[$name]=$ts
	V_SERIES[$name]=$(tag "$T/v.$name/IM0028.dcm" 0020,000E)
}
variant jpeg_p14 41 1.2.840.10008.1.2.4.57 dcmcjpeg +el
variant jpeg_sv1 42 1.2.840.10008.1.2.4.70 dcmcjpeg +e1
variant jpegls 43 1.2.840.10008.1.2.4.80 dcmcjpls
variant rle 44 1.2.840.10008.1.2.5 dcmcrle
variant jpegls_near 46 1.2.840.10008.1.2.4.81 dcmcjpls +en
variant jpeg_baseline 47 1.2.840.10008.1.2.4.50 dcmcjpeg +eb
variant jpeg_extended 48 1.2.840.10008.1.2.4.51 dcmcjpeg +ee
LOSSY=" jpegls_near jpeg_baseline jpeg_extended "

ref_series=$(tag "$FIX/IM0028.dcm" 0020,000E)
files=("$FIX"/*.dcm)
for n in "${!V_TS[@]}"; do files+=("$T/v.$n"/*.dcm); done
dcmsend -aet MODALITY -aec DICOMAID -dn 127.0.0.1 "$PORT" "${files[@]}" >"$T/dcmsend.log" 2>&1 ||
	{ cat "$T/dcmsend.log"; fail "dcmsend"; }
n_series=$(( ${#V_TS[@]} + 1 ))
wait_for 40 sql_is "select count(*) from analyses where state = 'done'" "$n_series" ||
	{ sql "select s.series_uid, a.state, a.last_error from analyses a join series s on s.id = a.series_ref"; fail "not every series was analysed"; }

# findings SERIES: the study probability, then one line per lesion: type, probability, centre.
findings() {
	sql "select printf('study %.4f', a.study_probability) from analyses a join series s on s.id = a.series_ref where s.series_uid = '$1'"
	sql "select f.type || ' ' || printf('%.4f', f.probability) || ' ' || printf('%.2f %.2f %.2f', f.centre_x, f.centre_y, f.centre_z) from findings f join analyses a on a.id = f.analysis_ref join series s on s.id = a.series_ref where s.series_uid = '$1' order by f.lesion"
}
ref=$(findings "$ref_series")
[ "$(printf '%s\n' "$ref" | grep -c .)" -ge 2 ] || fail "no lesion found in the original series"
for n in "${!V_TS[@]}"; do
	s=${V_SERIES[$n]}
	got_ts=$(sql "select distinct i.transfer_syntax from instances i join series s on s.id = i.series_ref where s.series_uid = '$s'")
	[ "$got_ts" = "${V_TS[$n]}" ] || fail "$n: stored as '$got_ts', not ${V_TS[$n]} (decompressed on the way?)"
	got=$(findings "$s")
	case "$LOSSY" in
	*" $n "*)
		[ "$(printf '%s\n' "$got" | grep -c .)" = "$(printf '%s\n' "$ref" | grep -c .)" ] ||
			fail "$n: lesions [$got], original [$ref]"
		paste -d' ' <(printf '%s\n' "$ref" | sed 1d) <(printf '%s\n' "$got" | sed 1d) | awk -v n="$n" '{
			if ($1 != $6) { print n ": type " $6 ", original " $1; exit 1 }
			d = sqrt(($3 - $8) ^ 2 + ($4 - $9) ^ 2 + ($5 - $10) ^ 2)
			if (d > 3) { print n ": centre " d " mm from the original"; exit 1 } }' ||
			fail "$n: findings differ from the original"
		;;
	*)
		[ "$got" = "$ref" ] || fail "$n: findings [$got], original [$ref]"
		;;
	esac
done
ok "$(( n_series - 1 )) transfer syntaxes stored as sent and analysed: lossless ones find exactly [$(printf '%s\n' "$ref" | paste -sd';')], lossy ones the same lesion within 3 mm"

# ---- (b) JPEG 2000 -------------------------------------------------------------------------
copy_series "$T/u.j2k" 90
mkdir -p "$T/j2k"
/usr/bin/python3 - "$T/u.j2k" "$T/j2k" <<'PY' || fail "writing the JPEG 2000 files"
import io, os, sys
import numpy as np
import pydicom
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import UID
src, dst = sys.argv[1], sys.argv[2]
for name in sorted(os.listdir(src)):
    ds = pydicom.dcmread(os.path.join(src, name))
    a = ds.pixel_array
    assert a.dtype == np.uint16 and ds.SamplesPerPixel == 1
    buf = io.BytesIO()
    Image.fromarray(a, "I;16").save(buf, "JPEG2000", irreversible=False, no_jp2=True)
    back = np.array(Image.open(io.BytesIO(buf.getvalue())))
    assert (back == a).all(), "JPEG 2000 round trip is not lossless"
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.4.90")
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(os.path.join(dst, name), write_like_original=False)
PY
[ "$(tag "$T/j2k/IM0028.dcm" 0002,0010)" = "$J2K" ] || fail "not a JPEG 2000 file"
j2k_series=$(tag "$T/j2k/IM0028.dcm" 0020,000E)
# (dcmsend exits 0 even when the association is refused: its log and the index tell.)
dcmsend -aet MODALITY -aec DICOMAID -dn 127.0.0.1 "$PORT" "$T"/j2k/*.dcm >"$T/dcmsend.j2k.log" 2>&1 || true
grep -q 'No Acceptable Presentation Contexts' "$T/dcmsend.j2k.log" ||
	{ cat "$T/dcmsend.j2k.log"; fail "dcmsend did not report the refused JPEG 2000 context"; }
[ "$(sql "select count(*) from series where series_uid = '$j2k_series'")" = 0 ] ||
	fail "JPEG 2000 instances were stored"
ok "JPEG 2000 is not accepted over the network (no acceptable presentation context, nothing stored)"

# The same images received uncompressed while analysis is off, then swapped on disk for their
# JPEG 2000 encodings (index updated), then analysis on again.
stop_daemon || fail "exit status"
ANALYSIS=no PORT_FIXED=$PORT start_daemon
storescu -aet MODALITY -aec DICOMAID 127.0.0.1 "$PORT" "$T"/u.j2k/*.dcm || fail "storescu"
stop_daemon || fail "exit status"
for f in "$T"/j2k/*.dcm; do
	sop=$(tag "$f" 0008,0018)
	rel=$(sql "select file_path from instances where sop_instance_uid = '$sop'")
	[ -n "$rel" ] && [ -f "$T/data/$rel" ] || fail "stored file of $sop not found"
	cp "$f" "$T/data/$rel"
	sqlite3 "$T/data/index.sqlite" "update instances set transfer_syntax = '$J2K', file_size = $(stat -c %s "$f") where sop_instance_uid = '$sop'"
done
PORT_FIXED=$PORT start_daemon
wait_analysis_ready
q="from analyses a join series s on s.id = a.series_ref where s.series_uid = '$j2k_series'"
wait_for 20 sql_ge "select count(*) $q and a.state in ('done', 'failed', 'not-applicable')" 1 ||
	{ sql "select a.state, a.last_error $q"; fail "the JPEG 2000 series was not looked at"; }
state=$(sql "select a.state $q")
why=$(sql "select a.last_error $q")
[ "$state" = not-applicable ] || fail "JPEG 2000 series ended '$state' ($why), want not-applicable"
case "$why" in
"unsupported transfer syntax $J2K"*) ;;
*) fail "reason '$why'" ;;
esac
[ "$(sql "select a.attempts $q")" = 1 ] || fail "retried"
[ -z "$(sql "select a.sr_uid $q")" ] || fail "an SR was written"
grep -q "event=not_applicable .*series=$j2k_series" "$T/daemon.log" || fail "not logged"
ok "a JPEG 2000 series in the storage ends not-applicable: $why"

stop_daemon || fail "exit status"
