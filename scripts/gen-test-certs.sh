#!/bin/sh
# gen-test-certs.sh DIR - makes the TLS material the tests use, in DIR.
#
# No key is ever committed: ctest runs this (fixture setup.certs) before
# the tests. It is idempotent: when every file is there, from this version
# of the script, and the certificates are good for another day, it does
# nothing; otherwise it makes everything afresh in a scratch directory and
# moves it into place, so that a half-made set is never seen.
#
#   ca.pem ca.key              the test CA
#   source.pem source.key      CN/SAN DNS source.test (the migration source)
#   target.pem target.key      CN/SAN DNS target.test, SAN IP 127.0.0.1
#   other-ca.pem other-ca.key  an unrelated CA
#   rogue.pem rogue.key        SAN target.test, signed by the other CA
#   expired.pem expired.key    SAN target.test, test CA, expired in 2020
#   wrong-name.pem .key        SAN elsewhere.test, test CA
#
# Keys are EC P-256 (fast to make) and mode 0600.
set -eu

VERSION=1
DAYS=3650

if [ $# -ne 1 ] || [ -z "$1" ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1

names="ca other-ca source target rogue expired wrong-name"

up_to_date() {
	[ -f "$dir/.version" ] || return 1
	[ "$(cat "$dir/.version")" = "$VERSION" ] || return 1
	for n in $names; do
		[ -s "$dir/$n.pem" ] && [ -s "$dir/$n.key" ] || return 1
	done
	for n in ca other-ca source target rogue wrong-name; do
		openssl x509 -noout -checkend 86400 -in "$dir/$n.pem" \
			>/dev/null 2>&1 || return 1
	done
	return 0
}

if up_to_date; then
	exit 0
fi

mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.gen.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
umask 077

key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$tmp/$1.key" 2>/dev/null
}

# ca NAME CN
ca() {
	key "$1"
	openssl req -new -x509 -key "$tmp/$1.key" -subj "/CN=$2" \
		-days "$DAYS" -sha256 \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$tmp/$1.pem"
}

# leaf NAME ISSUER CN SAN
leaf() {
	key "$1"
	openssl req -new -key "$tmp/$1.key" -subj "/CN=$3" -sha256 \
		-days "$DAYS" -CA "$tmp/$2.pem" -CAkey "$tmp/$2.key" \
		-addext "basicConstraints=critical,CA:FALSE" \
		-addext "keyUsage=critical,digitalSignature" \
		-addext "extendedKeyUsage=serverAuth,clientAuth" \
		-addext "subjectAltName=$4" \
		-out "$tmp/$1.pem"
}

ca ca "libmigrate test CA"
ca other-ca "libmigrate rogue CA"
leaf source ca source.test "DNS:source.test"
leaf target ca target.test "DNS:target.test,IP:127.0.0.1"
leaf rogue other-ca target.test "DNS:target.test"
leaf wrong-name ca elsewhere.test "DNS:elsewhere.test"

# OpenSSL 3.0's req and x509 cannot back-date a certificate (-days must be
# positive, -not_before/-not_after came in 3.4); `openssl ca` can, given a
# throw-away database.
key expired
openssl req -new -key "$tmp/expired.key" -subj "/CN=target.test" \
	-out "$tmp/expired.csr"
mkdir "$tmp/db"
: >"$tmp/db/index.txt"
cat >"$tmp/db/ca.cnf" <<EOF
[ca]
default_ca = test_ca
[test_ca]
database = $tmp/db/index.txt
new_certs_dir = $tmp/db
certificate = $tmp/ca.pem
private_key = $tmp/ca.key
default_md = sha256
policy = any
unique_subject = no
rand_serial = yes
copy_extensions = none
x509_extensions = leaf
[any]
commonName = supplied
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:target.test
EOF
openssl ca -batch -notext -config "$tmp/db/ca.cnf" \
	-startdate 20200101000000Z -enddate 20200201000000Z \
	-in "$tmp/expired.csr" -out "$tmp/expired.pem" 2>/dev/null

for n in $names; do
	chmod 0644 "$tmp/$n.pem"
	chmod 0600 "$tmp/$n.key"
done
# The version stamp goes first and comes back last, so that an
# interrupted run is redone next time.
rm -f "$dir/.version"
for n in $names; do
	mv -f "$tmp/$n.key" "$dir/$n.key"
	mv -f "$tmp/$n.pem" "$dir/$n.pem"
done
echo "$VERSION" >"$tmp/version"
chmod 0644 "$tmp/version"
mv -f "$tmp/version" "$dir/.version"
