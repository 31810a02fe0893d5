#!/usr/bin/env bash
# The Ketenpoort demo: a gateway, the nine partner agents, a casusregisseur and
# a privacy officer on this machine, playing one (fictional) case through its
# phases. Called by `./run demo` as
#   deploy/demo/demo.sh BUILD_DIR DEMO_DIR
# Every name, number and record below is made up.
set -euo pipefail
BUILD="$(cd "$1" && pwd)"
DEMO="$2"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KP="$BUILD/cli/ketenpoort"
GATEWAY="$BUILD/gateway/ketenpoort-gateway"
AGENT="$BUILD/agent/ketenpoort-agent"
POLICY="$SRC/policy/examples/veiligheidsteam-hvb.yaml"
PARTNERS=(politie om rvdk reclassering ggz novadic veilig-thuis jeugdbescherming gemeente)
START=$SECONDS

step() { printf '\n\033[1;34m── %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }
show() {
  printf '\033[2m$ %s\033[0m\n' "${*/#$KP/ketenpoort}"
  "$@"
}
# Runs a command that must be refused with exit code $1.
expect_exit() {
  local want="$1" rc=0
  shift
  printf '\033[2m$ %s\033[0m\n' "${*/#$KP/ketenpoort}"
  "$@" || rc=$?
  if ((rc != want)); then
    echo "!! expected exit code $want, got $rc" >&2
    exit 1
  fi
  say "(exit code $rc)"
}

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

rm -rf "$DEMO"
mkdir -m 700 -p "$DEMO"/{keys,registry,data,logs,run}
DEMO="$(cd "$DEMO" && pwd)"
cd "$DEMO"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
ENDPOINT="tcp://127.0.0.1:$PORT"

step "1. Keys: every participant makes its own (secret file 0600 + public card)"
"$KP" keygen --id enrolment-hvb --kind enrolment --out keys >/dev/null
"$KP" keygen --id gateway --kind gateway --out keys >/dev/null
for p in "${PARTNERS[@]}"; do "$KP" keygen --id "$p-agent" --kind agent --partner "$p" --out keys >/dev/null; done
"$KP" keygen --id regisseur-01 --kind coordinator --partner veiligheidsteam --out keys >/dev/null
"$KP" keygen --id fg-01 --kind privacy-officer --out keys >/dev/null
say "made: enrolment-hvb, gateway, ${#PARTNERS[@]} agents (${PARTNERS[*]}), regisseur-01, fg-01 (privacy officer)"
for f in keys/*.card; do [[ $f == keys/enrolment-hvb.card ]] || cp "$f" registry/; done
show "$KP" registry sign --enrolment keys/enrolment-hvb.secret --dir registry --role regisseur-01=casusregisseur >/dev/null
say "the enrolment office signed the registry: $(ls registry/*.card | wc -l) participants"

step "2. Fictional source data for each partner (plainly fake names and numbers)"
python3 "$SRC/deploy/demo/make_demo_data.py" data
say "$(find data -type f | wc -l) files under $DEMO/data (SQLite for the police, JSON files, one lookup program)"

step "3. The gateway and the nine agents start"
cat > gateway.yaml <<YAML
listen: $ENDPOINT
identity: keys/gateway.secret
registry: registry
enrolment_card: keys/enrolment-hvb.card
policy: $POLICY
data_dir: run/gateway
log_origin: ketenpoort.demo/audit
YAML
"$GATEWAY" run --config gateway.yaml >logs/gateway.log 2>&1 &
PIDS+=($!)
for p in "${PARTNERS[@]}"; do
  python3 "$SRC/deploy/demo/make_demo_data.py" --agent-config "$p" "$ENDPOINT" "$POLICY" >"agent-$p.yaml"
  "$AGENT" run --config "agent-$p.yaml" >"logs/$p-agent.log" 2>&1 &
  PIDS+=($!)
done
say "gateway on $ENDPOINT (log: logs/gateway.log); agents: logs/<partner>-agent.log"

cat > coordinator.yaml <<YAML
gateway:
  endpoint: $ENDPOINT
  card: keys/gateway.card
identity: keys/regisseur-01.secret
enrolment_card: keys/enrolment-hvb.card
registry: registry
store: coordinator-store
YAML
export KETENPOORT_CONFIG="$DEMO/coordinator.yaml"
# Wait until the gateway answers (the agents may come a moment later: the
# gateway holds requests for them until they connect).
for _ in $(seq 1 100); do
  "$KP" inbox >/dev/null 2>&1 && break
  sleep 0.1
done

step "4. The casusregisseur opens a case; the subjects' details stay on this machine"
cat > s1.yaml <<'YAML'
name: "Demi de Voorbeeld (fictief)"
bsn: "999990019"
date_of_birth: 1990-01-01
YAML
cat > s2.yaml <<'YAML'
name: "Kim de Voorbeeld (fictief)"
bsn: "999990020"
date_of_birth: 2016-05-12
YAML
cat > s3.yaml <<'YAML'
name: "Robin Testmans (fictief)"
bsn: "999990031"
date_of_birth: 1987-09-30
YAML
show "$KP" case open --purpose plan-van-aanpak --subject victim:s1.yaml --subject child:s2.yaml \
  --subject suspected-perpetrator:s3.yaml | tee case-open.txt
CASE="$(tail -1 case-open.txt)"
show "$KP" case admit "$CASE" "${PARTNERS[@]}"

step "5. Phase 1 (acute veiligheid): requests to the partners"
show "$KP" request "$CASE" --from politie --category politie-incidenten --purpose plan-van-aanpak --subject S1 --subject S3
show "$KP" request "$CASE" --from om --category om-voorwaarden --purpose plan-van-aanpak --subject S3
show "$KP" request "$CASE" --from reclassering --category reclassering-toezicht --purpose plan-van-aanpak --subject S3
show "$KP" request "$CASE" --from veilig-thuis --category veilig-thuis-meldingen --purpose plan-van-aanpak
show "$KP" request "$CASE" --from rvdk --category rvdk-onderzoeksstatus --purpose plan-van-aanpak --subject S2
show "$KP" request "$CASE" --from jeugdbescherming --category jeugdbescherming-maatregelen --purpose plan-van-aanpak --subject S2

step "6. GGz: refused without the subject's consent, permitted once it is recorded"
expect_exit 3 "$KP" request "$CASE" --from ggz --category ggz-in-zorg --purpose plan-van-aanpak --subject S3
show "$KP" case consent "$CASE" --subject S3 --purpose plan-van-aanpak --until 2027-06-30
show "$KP" request "$CASE" --from ggz --category ggz-in-zorg --purpose plan-van-aanpak --subject S3
show "$KP" request "$CASE" --from novadic --category verslavingszorg-in-zorg --purpose plan-van-aanpak --subject S3

step "7. Acute danger: the police are asked with a justification (weapons field allowed, privacy officer notified)"
show "$KP" request "$CASE" --from politie --category politie-incidenten --purpose acuut-gevaar-afwenden --subject S3 \
  --justification "Dreiging met een wapen gemeld op 2026-11-26 (fictief)" --json

step "8. Phase 2 (stabiele veiligheid): the municipality may now be asked"
show "$KP" case phase "$CASE" stabiele-veiligheid
show "$KP" request "$CASE" --from gemeente --category gemeente-ondersteuning --purpose plan-van-aanpak --subject S1

step "9. The case is closed; a request after closure is refused"
show "$KP" case close "$CASE" --reason veiligheid-hersteld
expect_exit 3 "$KP" request "$CASE" --from politie --category politie-incidenten --purpose plan-van-aanpak --subject S1
show "$KP" case list
show "$KP" case show "$CASE"

step "10. The privacy officer pulls the audit log, verifies it and writes the report"
show "$KP" audit pull --gateway "$ENDPOINT" --gateway-card keys/gateway.card --identity keys/fg-01.secret --out audit-copy
# The log's key the privacy officer pinned when the gateway was installed, and
# a checkpoint the police agent kept from one of its receipts.
cp run/gateway/audit/log.vkey pinned-gateway-log.vkey
KEPT="$(ls run/politie-agent/gateway-checkpoints/* | head -1)"
show "$KP" audit verify audit-copy --key pinned-gateway-log.vkey --checkpoint "$KEPT"
show "$KP" audit report audit-copy --key pinned-gateway-log.vkey --case "$CASE" --out audit-report.html

step "11. No personal data left the partners' or coordinator's machines in the clear"
LEAKS=0
for needle in 999990019 "Demi de Voorbeeld" "Robin Testmans" "Dreiging met een wapen"; do
  if grep -rqa -- "$needle" logs run/gateway audit-copy coordinator-store 2>/dev/null; then
    echo "!! found '$needle' in a log, the gateway's data or the coordinator's store" >&2
    LEAKS=1
  fi
done
((LEAKS == 0)) || exit 1
say "searched logs/, run/gateway/, audit-copy/ and coordinator-store/ for the subjects' BSN, names and the"
say "justification text: not found (the store keeps them encrypted; the gateway never saw them)"

cleanup
trap - EXIT
step "Done in $((SECONDS - START)) s"
cat <<TXT
Everything is in $DEMO:
  audit-report.html      the privacy officer's report of case $CASE (open it in a browser)
  audit-copy/            the pulled audit log, verified against the pinned key
  coordinator-store/     the casusregisseur's local store (fragments sealed, subjects encrypted)
  logs/                  the gateway's and the agents' logs: ids only, no personal data
  run/<agent>/audit/     each agent's own log of what it disclosed
  *.yaml                 the configurations used (docs/operations.md, docs/agent.md, docs/cli.md)
TXT
