#!/usr/bin/env bash
# The foundation demo: identities, and one fragment signed, sealed, opened —
# and tampered copies refused. Called by `./run demo` as
#   deploy/demo/demo.sh BUILD_DIR DEMO_DIR
# Every name and number below is fictional.
set -euo pipefail
BUILD="$(cd "$1" && pwd)"
DEMO="$2"
KP="$BUILD/cli/ketenpoort"

step() { printf '\n\033[1;34m── %s\033[0m\n' "$*"; }
show() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }
expect_refusal() {
  local rc=0
  "$@" >/dev/null 2>"$DEMO/last-error" || rc=$?
  if ((rc == 0)); then
    echo "!! expected a refusal, but it was accepted" >&2
    exit 1
  fi
  printf '   refused (exit %d): %s\n' "$rc" "$(cat "$DEMO/last-error")"
}

rm -rf "$DEMO"
mkdir -m 700 -p "$DEMO"
cd "$DEMO"

step "1. Each participant makes its own keys (secret file 0600 + public card)"
show "$KP" keygen --id regisseur-01 --kind coordinator --partner veiligheidsteam --out keys
show "$KP" keygen --id politie-agent --kind agent --partner politie --out keys
show "$KP" keygen --id ggz-agent --kind agent --partner ggz --out keys
echo
ls -l keys
echo
echo "The police agent's public card (public keys only, self-signed):"
sed 's/^/   /' keys/politie-agent.card

REQ=4b5450000000000000000000000000a1   # the request these messages belong to

step "2. The coordinator seals the subject's details for the police agent only"
cat > subject.json <<'JSON'
{"caseId": "VT-2026-0001",
 "subjects": [{"ref": "S1", "role": "SUBJECT_ROLE_VICTIM", "bsn": "999990019",
               "name": "Demi de Voorbeeld (fictief)", "dateOfBirth": "1990-01-01"}],
 "justification": "Acuut gevaar; afgestemd met de poortwachter (fictief)."}
JSON
show "$KP" envelope seal --identity keys/regisseur-01.secret --to keys/politie-agent.card \
  --kind subject-data --request-id "$REQ" --in subject.json --out subject.sealed
echo "   $(wc -c < subject.sealed) bytes of ciphertext; the gateway would route these without reading them."
show "$KP" envelope open --identity keys/politie-agent.secret --from keys/regisseur-01.card \
  --kind subject-data --request-id "$REQ" --in subject.sealed

step "3. The police agent signs a fragment and seals it to the coordinator"
cat > fragment.json <<'JSON'
{"caseId": "VT-2026-0001",
 "categories": [{"category": "politie-incidenten",
   "records": [{"subjectRef": "S1", "values": [
      {"field": "datum", "value": "2026-10-03"},
      {"field": "soort", "value": "huiselijk geweld, melding"}]}]}]}
JSON
show "$KP" envelope seal --identity keys/politie-agent.secret --to keys/regisseur-01.card \
  --kind fragment-content --request-id "$REQ" --in fragment.json --out fragment.sealed
show "$KP" envelope open --identity keys/regisseur-01.secret --from keys/politie-agent.card \
  --kind fragment-content --request-id "$REQ" --in fragment.sealed

step "4. Tampered or misdirected copies are refused"
cp fragment.sealed tampered.sealed
printf '\x01' | dd of=tampered.sealed bs=1 seek=100 conv=notrunc status=none
echo "A copy with one byte changed:"
expect_refusal "$KP" envelope open --identity keys/regisseur-01.secret --from keys/politie-agent.card \
  --kind fragment-content --request-id "$REQ" --in tampered.sealed
echo "The genuine fragment, presented as the answer to another request:"
expect_refusal "$KP" envelope open --identity keys/regisseur-01.secret --from keys/politie-agent.card \
  --kind fragment-content --request-id 4b5450000000000000000000000000a2 --in fragment.sealed
echo "The genuine fragment, opened by someone it was not sealed to:"
expect_refusal "$KP" envelope open --identity keys/ggz-agent.secret --from keys/politie-agent.card \
  --kind fragment-content --request-id "$REQ" --in fragment.sealed
echo "A fragment claimed to come from GGz, but signed by the police agent:"
expect_refusal "$KP" envelope open --identity keys/regisseur-01.secret --from keys/ggz-agent.card \
  --kind fragment-content --request-id "$REQ" --in fragment.sealed
echo "A secret key file that others can read:"
chmod 644 keys/ggz-agent.secret
expect_refusal "$KP" envelope seal --identity keys/ggz-agent.secret --to keys/regisseur-01.card \
  --kind fragment-content --request-id "$REQ" --in fragment.json
chmod 600 keys/ggz-agent.secret

step "5. A signed envelope as it goes on the wire; an edited copy is refused"
echo '{"sequence": "1"}' > heartbeat.json
show "$KP" envelope sign --identity keys/politie-agent.secret --kind heartbeat --in heartbeat.json --out heartbeat.env
show "$KP" envelope verify --from keys/politie-agent.card --kind heartbeat --in heartbeat.env
cp heartbeat.env edited.env
printf '\x07' | dd of=edited.env bs=1 seek=20 conv=notrunc status=none
echo "The same envelope with one byte changed:"
expect_refusal "$KP" envelope verify --from keys/politie-agent.card --in edited.env

step "Done"
cat <<TXT
Everything is in $DEMO: keys/ (secret files 0600, public cards), the sealed
messages and the JSON they came from. What you saw is the foundation the
gateway and the agents are built on: docs/protocol.md describes every byte.
TXT
