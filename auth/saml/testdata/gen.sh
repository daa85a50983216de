#!/bin/sh
# Regenerates the test RSA keys (2048 bits, the Swedish eID minimum). They
# only sign and encrypt test fixtures; certificates are made by the tests.
set -e
cd "$(dirname "$0")"
for n in idp federation federation-next sp-sign sp-enc sp-enc-prev sp-enc-next attacker rogue; do
	openssl genrsa -traditional -out "$n.key" 2048 2>/dev/null || openssl genrsa -out "$n.key" 2048
done
