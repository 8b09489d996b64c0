# Helpers for the TLS tests (sourced after tests/integration/lib.sh): certificates made with
# openssl in the test's temporary directory, and dcmtk peers over TLS.
P="$T/pki"

mkca() { # NAME: a self-signed CA certificate and key
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$P/$1.key" -out "$P/$1.crt" -days 2 \
		-subj "/CN=dicomaid test $1" -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>"$P/openssl.err" ||
		{ cat "$P/openssl.err"; fail "openssl: CA $1"; }
}

mkcert() { # NAME CA [SAN]: a certificate for SAN (default localhost/127.0.0.1) issued by CA
	openssl req -newkey rsa:2048 -nodes -keyout "$P/$1.key" -out "$P/$1.csr" \
		-subj "/CN=$1" 2>"$P/openssl.err" || { cat "$P/openssl.err"; fail "openssl: request $1"; }
	printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\n' "${3:-DNS:localhost,IP:127.0.0.1}" > "$P/$1.ext"
	openssl x509 -req -in "$P/$1.csr" -CA "$P/$2.crt" -CAkey "$P/$2.key" -CAcreateserial \
		-out "$P/$1.crt" -days 2 -extfile "$P/$1.ext" 2>"$P/openssl.err" ||
		{ cat "$P/openssl.err"; fail "openssl: sign $1"; }
}

# make_pki: ca, with server and client certificates; otherca, with a rogue certificate.
make_pki() {
	mkdir -p "$P"
	mkca ca
	mkca otherca
	mkcert server ca
	mkcert client ca
	mkcert rogue otherca
	mkcert misnamed ca DNS:pacs.example.org
	openssl verify -CAfile "$P/ca.crt" "$P/client.crt" >/dev/null || fail "client cert does not verify"
	! openssl verify -CAfile "$P/ca.crt" "$P/rogue.crt" >/dev/null 2>&1 || fail "rogue cert verifies"
}

# start_tls_scp NAME AE CERT PORT: a storescp +tls presenting CERT (trusting ca), writing
# to $T/NAME; waits until it listens. Sets SCP_PID_NAME.
start_tls_scp() {
	mkdir -p "$T/$1"
	storescp +tls "$P/$3.key" "$P/$3.crt" +cf "$P/ca.crt" -aet "$2" -od "$T/$1" \
		"$4" >"$T/$1.log" 2>&1 &
	eval "SCP_PID_$1=$!"
	for _ in $(seq 1 50); do (echo > "/dev/tcp/127.0.0.1/$4") 2>/dev/null && return 0; sleep 0.1; done
	cat "$T/$1.log"
	fail "storescp +tls $1 did not start"
}
