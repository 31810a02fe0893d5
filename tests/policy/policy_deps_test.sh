#!/bin/sh
# The policy engine decides, others act (STYLE.md): kp_policy includes no
# crypto, sockets, audit log or transport code. Run from the source root.
if grep -rnE '#include [<"](sodium|zmq|openssl/|core/crypto/|core/audit/|core/transport/|core/envelope/|gateway/|agent/)' \
    policy/; then
  echo "FAIL: policy/ includes code it must not depend on (above)"
  exit 1
fi
echo "policy/ includes no crypto, sockets or audit code"
