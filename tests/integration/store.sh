#!/bin/bash
# C-STORE against dcmtk's storescu: every MR_small variant from Debian's pydicom test files,
# then a generated 40-slice series over 4 parallel associations. Each stored data set must
# equal the source (byte for byte when the transfer syntax was kept), each index row right.
. "$(dirname "$0")/lib.sh"
DSBYTES="$top_builddir/tests/integration/dsbytes"

start_daemon

# A deflated variant made with dcmtk (pydicom ships none of MR_small).
dcmconv +td "$PYDICOM_FILES/MR_small.dcm" "$T/MR_small_deflate.dcm" || fail "dcmconv +td"

n=0
for f in MR_small.dcm MR_small_implicit.dcm MR_small_bigendian.dcm MR_small_expb.dcm \
	 MR_small_RLE.dcm MR_small_jpeg_ls_lossless.dcm MR_small_padded.dcm MR_small_deflate.dcm; do
	src="$PYDICOM_FILES/$f"
	[ -f "$src" ] || src="$T/$f"
	[ -f "$src" ] || fail "missing test file $src (python3-pydicom)"
	# storescu proposes uncompressed syntaxes unless told to offer the file's own.
	case $f in
	*RLE*) propose=-xr ;;
	*jpeg_ls*) propose=-xt ;;
	*deflate*) propose=-xd ;;
	*bigendian*|*expb*) propose=-xb ;;
	*) propose= ;;
	esac
	# Different SOP Instance UIDs: MR_small variants share one, so give each its own.
	[ "$src" = "$T/$f" ] || cp "$src" "$T/$f"
	uid="1.2.826.0.1.3680043.9.7777.1.$n"
	dcmodify -nb -imt -m "(0008,0018)=$uid" "$T/$f" >/dev/null 2>&1 || fail "dcmodify $f"
	storescu -aet STORESCU -aec DICOMAID $propose 127.0.0.1 "$PORT" "$T/$f" || fail "storescu $f"
	study=$(dcmdump -q +P 0020,000D "$T/$f" | sed 's/.*\[\(.*\)\].*/\1/')
	series=$(dcmdump -q +P 0020,000E "$T/$f" | sed 's/.*\[\(.*\)\].*/\1/')
	stored="$T/data/$study/$series/$uid.dcm"
	[ -f "$stored" ] || fail "$f: not stored at $stored"
	src_ts=$(dcmdump -q +P 0002,0010 "$T/$f" | sed 's/.*=\([A-Za-z]*\).*/\1/')
	dst_ts=$(dcmdump -q +P 0002,0010 "$stored" | sed 's/.*=\([A-Za-z]*\).*/\1/')
	if [ "$src_ts" = "$dst_ts" ]; then
		cmp <("$DSBYTES" "$T/$f") <("$DSBYTES" "$stored") || fail "$f: data set bytes differ"
		how="byte-identical"
	else
		diff <(dump_dataset "$T/$f") <(dump_dataset "$stored") >/dev/null || fail "$f: data set differs"
		how="same content ($src_ts sent as $dst_ts)"
	fi
	[ "$(sql "select count(*) from instances where sop_instance_uid='$uid'")" = 1 ] || fail "$f: no index row"
	dcmdump -q "$stored" >/dev/null || fail "$f: dcmdump cannot read the stored file"
	ok "$f stored, $how, indexed"
	n=$((n + 1))
done

# JPEG 2000 cannot be decoded here: its context is refused, the association survives.
if storescu -aet STORESCU -aec DICOMAID -xv -R 127.0.0.1 "$PORT" "$PYDICOM_FILES/MR_small_jp2klossless.dcm" 2>"$T/j2k.out"; then
	: # storescu may report success with "no presentation context" warnings only
fi
grep -q 'result=4' "$T/daemon.log" || fail "JPEG 2000 context not refused with result 4"
ok "JPEG 2000 context refused (transfer syntaxes not supported)"

# Index row contents for one instance.
row=$(sql "select i.rows, i.columns, s.modality, i.transfer_syntax, i.calling_ae from instances i join series s on i.series_ref = s.id where i.sop_instance_uid='1.2.826.0.1.3680043.9.7777.1.0'")
[ "$row" = "64|64|MR|1.2.840.10008.1.2.1|STORESCU" ] || fail "index row: $row"
ok "index row: $row"

# A generated multi-slice series, 4 parallel associations of 10 slices each.
mkdir -p "$T/series"
for i in $(seq 1 40); do
	cp "$PYDICOM_FILES/MR_small.dcm" "$T/series/s$i.dcm"
	dcmodify -nb -imt -m "(0008,0018)=1.2.826.0.1.3680043.9.7777.2.$i" \
		-m "(0020,000E)=1.2.826.0.1.3680043.9.7777.3" -m "(0020,0013)=$i" \
		-m "(0020,0032)=0\\0\\$i" "$T/series/s$i.dcm" >/dev/null 2>&1 || fail dcmodify
done
pids=
for k in 0 1 2 3; do
	files=$(for i in $(seq $((k * 10 + 1)) $((k * 10 + 10))); do echo "$T/series/s$i.dcm"; done)
	storescu -aet PAR$k -aec DICOMAID 127.0.0.1 "$PORT" $files & pids="$pids $!"
done
for p in $pids; do wait $p || fail "parallel storescu failed"; done
[ "$(sql "select count(*) from instances i join series s on i.series_ref=s.id where s.series_uid='1.2.826.0.1.3680043.9.7777.3'")" = 40 ] || fail "40 slices not indexed"
[ "$(ls "$T"/data/*/1.2.826.0.1.3680043.9.7777.3/ | wc -l)" = 40 ] || fail "40 files not on disk"
for i in 1 17 40; do
	cmp <("$DSBYTES" "$T/series/s$i.dcm") <("$DSBYTES" "$T"/data/*/1.2.826.0.1.3680043.9.7777.3/1.2.826.0.1.3680043.9.7777.2.$i.dcm) || fail "slice $i differs"
done
ok "40-slice series over 4 parallel associations stored and indexed"

[ -z "$(ls "$T/data/incoming")" ] || fail "files left in incoming/"
# the end-of-association audit row is written on the threadpool after the release, so it can
# land after the client has exited: wait for it (bounded)
audit=
for _ in $(seq 1 150); do
	audit=$(sql "select sum(instances_received) from associations where calling_ae like 'PAR%' and outcome='released'")
	[ "$audit" = 40 ] && break
	sleep 0.1
done
[ "$audit" = 40 ] || fail "audit counts: $audit"
ok "audit rows count the instances of each association"
stop_daemon || fail "exit status"
grep -q 'event=stopped' "$T/daemon.log" || fail "no orderly stop"
ok "orderly stop, no .part left"
