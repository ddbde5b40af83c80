#!/usr/bin/env bash
# Certificates and secrets for the secured compose stack (docker-compose.secured.yml) and the
# Kubernetes example's TLS Secret (deploy/k8s/), made with openssl:
#
#   scripts/certs.sh [DIR]      default DIR: deploy/secured/certs
#
# DIR receives: ca.pem (a private CA), server.pem/server.key (signed for the compose
# services kafka, redis and gate, for localhost and 127.0.0.1), kafka-keystore.pem (key and
# certificate in one file, Kafka's PEM keystore), client.pem/client.key (a client certificate,
# for the gate's HTTPS listener and for curl), kafka-password and redis-password (random),
# redis-users.acl (Redis's ACL file with that password) and a .gitignore that keeps all of it
# out of git. EC P-256 keys in unencrypted PKCS#8 PEM, which Kafka, Redis, librdkafka and the
# gate all read. An existing complete DIR is kept (idempotent); delete it to make new ones.
set -euo pipefail

DIR=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/deploy/secured/certs}
FILES=(ca.pem server.pem server.key kafka-keystore.pem client.pem client.key
    kafka-password redis-password redis-users.acl)

complete() {
    local f
    for f in "${FILES[@]}"; do [[ -s $DIR/$f ]] || return 1; done
}

if complete; then
    echo "certs.sh: $DIR is complete; kept" >&2
    exit 0
fi
command -v openssl >/dev/null || { echo "certs.sh: openssl is needed" >&2; exit 1; }
mkdir -p "$DIR"
chmod 700 "$DIR"
cd "$DIR"
printf '*\n' >.gitignore

cat >openssl.cnf <<'EOF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:kafka, DNS:redis, DNS:gate, DNS:contract-gate, DNS:localhost, IP:127.0.0.1
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
EOF

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# sign NAME CN: NAME.key and NAME.pem, signed by the CA with section NAME's extensions.
sign() {
    key "$1.key"
    openssl req -new -config openssl.cnf -key "$1.key" -subj "/CN=$2" -out "$1.csr"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" \
        -days 825 -sha256 -extfile openssl.cnf -extensions "$1" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr"
}

key ca.key
openssl req -new -x509 -config openssl.cnf -extensions ca -key ca.key \
    -subj "/CN=contract-gate secured example CA" -days 825 -sha256 -out ca.pem
sign server contract-gate-services
sign client contract-gate-client
cat server.key server.pem >kafka-keystore.pem
openssl rand -hex 24 >kafka-password
openssl rand -hex 24 >redis-password
printf 'user default on >%s ~* &* +@all\n' "$(cat redis-password)" >redis-users.acl
# The CA key signs nothing more; without it the directory holds no way to mint certificates.
rm -f ca.key openssl.cnf
# Containers run as other users than the one running this script: readable, not writable.
chmod 644 -- *.pem *.key kafka-password redis-password redis-users.acl
echo "certs.sh: wrote ${FILES[*]} into $DIR" >&2
