#!/usr/bin/env bash
# The Ketenpoort demo: a gateway, the eleven partner agents, the coordinators
# (Veilig Thuis, the Veiligheidsteam's casusregisseur, the wijkteam's
# casuscoördinator, the police and the Crisis Interventie Team on the scene) and
# a privacy officer on this machine, playing two (fictional) stories:
#   A. Veilig Thuis refers a family; the Veiligheidsteam accepts; the partners
#      answer; the plan goes to the police; the case is handed to the
#      wijkteam's casuscoördinator at a marked moment;
#   B. Samen op in Acuut: the police open an acute case at night, with Veilig
#      Thuis and the CIT (whose data come after the weighing and its own
#      crisis worker's approval); the next morning it is handed to Veilig Thuis.
# Then the privacy officer's report. Called by `./run demo` as
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
PARTNERS=(politie om rvdk reclassering ggz novadic veilig-thuis jeugdbescherming gemeente cit spoedplein-etz)
# Coordinator participants: id, partner, role (from the policy).
COORDINATORS=(
  "veilig-thuis-01 veilig-thuis vt-medewerker"
  "regisseur-01 veiligheidsteam casusregisseur"
  "wijkteam-01 gemeente casuscoordinator"
  "politie-acuut-01 politie politie-acuut"
  "cit-01 cit cit-medewerker"
)
START=$SECONDS

step() { printf '\n\033[1;34m── %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }
# `as ID`: the following commands are typed at participant ID's desk (its own
# keys, its own store, its own client configuration).
AS=regisseur-01
as() { AS="$1"; }
prompt() { printf '\033[2m%s$ %s\033[0m\n' "$AS" "${*/#$KP/ketenpoort}"; }
show() {
  prompt "$@"
  KETENPOORT_CONFIG="$DEMO/clients/$AS.yaml" "$@"
}
# Runs a command that must be refused with exit code $1.
expect_exit() {
  local want="$1" rc=0
  shift
  prompt "$@"
  KETENPOORT_CONFIG="$DEMO/clients/$AS.yaml" "$@" || rc=$?
  if ((rc != want)); then
    echo "!! expected exit code $want, got $rc" >&2
    exit 1
  fi
  say "(exit code $rc)"
}
# Subject files hold a BSN, a name and a date of birth in the clear: they are
# written just before the one command that reads them, in a folder only this
# user can read, and overwritten and removed right after it.
forget() { shred -u -- "$@" 2>/dev/null || rm -f -- "$@"; }
# `ketenpoort-agent ...` typed on a partner's agent machine.
agent_cmd() {
  printf '\033[2m%s$ ketenpoort-agent %s\033[0m\n' "$AS" "$*"
  "$AGENT" "$@"
}

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  # A subject file left behind by a failed step is overwritten too.
  if [[ -d "$DEMO/desk" ]]; then
    find "$DEMO/desk" -type f -exec shred -u -- {} + 2>/dev/null || true
    rm -rf "$DEMO/desk"
  fi
}
trap cleanup EXIT

rm -rf "$DEMO"
mkdir -m 700 -p "$DEMO"/{keys,registry,data,logs,run,clients,stores,desk}
DEMO="$(cd "$DEMO" && pwd)"
cd "$DEMO"
umask 077
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
ENDPOINT="tcp://127.0.0.1:$PORT"

step "1. Keys: every participant makes its own (secret file 0600 + public card)"
"$KP" keygen --id enrolment-hvb --kind enrolment --out keys >/dev/null
"$KP" keygen --id gateway --kind gateway --out keys >/dev/null
for p in "${PARTNERS[@]}"; do "$KP" keygen --id "$p-agent" --kind agent --partner "$p" --out keys >/dev/null; done
ROLES=()
for c in "${COORDINATORS[@]}"; do
  read -r id partner role <<<"$c"
  "$KP" keygen --id "$id" --kind coordinator --partner "$partner" --out keys >/dev/null
  ROLES+=(--role "$id=$role")
done
"$KP" keygen --id fg-01 --kind privacy-officer --out keys >/dev/null
say "made: enrolment-hvb, gateway, ${#PARTNERS[@]} agents (${PARTNERS[*]}), fg-01 (privacy officer)"
say "and the coordinators, each in its role from the policy:"
for c in "${COORDINATORS[@]}"; do
  read -r id partner role <<<"$c"
  say "  $id  (partner $partner, role $role)"
done
(
  AS=enrolment-hvb
  prompt "$KP" pseudonym-key new --id hvb-demo-1 --out keys/region.pseudonym-key
  "$KP" pseudonym-key new --id hvb-demo-1 --out keys/region.pseudonym-key >/dev/null
)
say "the enrolment office made the region's pseudonym key (hvb-demo-1): the coordinators' clients and the"
say "privacy officer hold it, never the gateway or an agent; every record names its subjects by keyed pseudonym"
for f in keys/*.card; do [[ $f == keys/enrolment-hvb.card ]] || cp "$f" registry/; done
(
  AS=enrolment-hvb
  prompt "$KP" registry sign --enrolment keys/enrolment-hvb.secret --dir registry "${ROLES[@]}"
  "$KP" registry sign --enrolment keys/enrolment-hvb.secret --dir registry "${ROLES[@]}" >/dev/null
)
say "the enrolment office signed the registry: $(ls registry/*.card | wc -l) participants"

step "2. Fictional source data for each partner (plainly fake names and numbers)"
python3 "$SRC/deploy/demo/make_demo_data.py" data
say "$(find data -type f | wc -l) files under $DEMO/data (SQLite for the police and the CIT, JSON files, one lookup program)"

step "3. The gateway and the eleven agents start"
cat >gateway.yaml <<YAML
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

for c in "${COORDINATORS[@]}"; do
  read -r id _ _ <<<"$c"
  # (Relative paths in a client configuration are taken from its own folder.)
  cat >"clients/$id.yaml" <<YAML
gateway:
  endpoint: $ENDPOINT
  card: ../keys/gateway.card
identity: ../keys/$id.secret
enrolment_card: ../keys/enrolment-hvb.card
registry: ../registry
store: ../stores/$id
pseudonym_key: ../keys/region.pseudonym-key
YAML
done
# The privacy officer's client configuration: `audit notices` (docs/cli.md).
cat >clients/fg-01.yaml <<YAML
gateway:
  endpoint: $ENDPOINT
  card: ../keys/gateway.card
identity: ../keys/fg-01.secret
enrolment_card: ../keys/enrolment-hvb.card
registry: ../registry
store: ../stores/fg-01
pseudonym_key: ../keys/region.pseudonym-key
YAML
# Wait until the gateway answers (the agents may come a moment later: the
# gateway holds requests for them until they connect).
for _ in $(seq 1 100); do
  KETENPOORT_CONFIG="$DEMO/clients/regisseur-01.yaml" "$KP" inbox >/dev/null 2>&1 && break
  sleep 0.1
done

# =============================================================================
step "A1. Veilig Thuis refers a family to the Veiligheidsteam (its own reference, coded reasons)"
say "Anyone can bring a family to the Veiligheidsteam, but only through Veilig Thuis. The"
say "subjects' identifiers go sealed to the Veiligheidsteam's coordinators; the gateway sees"
say "the reference, the purpose and the reason codes, never a name or a BSN."
as veilig-thuis-01
cat >desk/gezin-a.yaml <<'YAML'
- {ref: S1, role: victim, bsn: "999990019", name: "Demi de Voorbeeld (fictief)", date_of_birth: 1990-01-01}
- {ref: S2, role: child, bsn: "999990020", name: "Kim de Voorbeeld (fictief)", date_of_birth: 2016-05-12}
- {ref: S3, role: suspected-perpetrator, bsn: "999990031", name: "Robin Testmans (fictief)", date_of_birth: 1987-09-30}
YAML
show "$KP" referral send --reference VT-MB-2026-0815 --to veiligheidsteam --purpose plan-van-aanpak \
  --reason herhaald-geweld --reason kinderen-betrokken --reason hoog-risico-escalatie --subjects desk/gezin-a.yaml
forget desk/gezin-a.yaml
say "(desk/gezin-a.yaml overwritten and removed: the subjects stay only in the encrypted store)"
cat >desk/gezin-c.yaml <<'YAML'
- {ref: S1, role: victim, bsn: "999990081", name: "Noor Fictief", date_of_birth: 1979-03-08}
YAML
show "$KP" referral send --reference VT-MB-2026-0822 --to veiligheidsteam --purpose plan-van-aanpak \
  --reason meerdere-problemen --subjects desk/gezin-c.yaml
forget desk/gezin-c.yaml

step "A2. The casusregisseur lists the referrals, declines one (a coded reason goes back) and accepts the other"
as regisseur-01
show "$KP" referral list --show-identifiers
REF_A="$(KETENPOORT_CONFIG="$DEMO/clients/regisseur-01.yaml" "$KP" referral list --offline | awk '/VT-MB-2026-0815/ {print $1; exit}')"
REF_C="$(KETENPOORT_CONFIG="$DEMO/clients/regisseur-01.yaml" "$KP" referral list --offline | awk '/VT-MB-2026-0822/ {print $1; exit}')"
show "$KP" referral decline "$REF_C" --reason past-bij-wijkteam
show "$KP" referral accept "$REF_A" | tee case-a.txt
CASE="$(tail -1 case-a.txt)"
say "the case opened with the three subjects committed, linked to VT-MB-2026-0815, Veilig Thuis admitted"
show "$KP" case admit "$CASE" politie om rvdk reclassering ggz novadic jeugdbescherming gemeente cit spoedplein-etz

as veilig-thuis-01
show "$KP" referral list

step "A3. Phase 1 (acute veiligheid): the partners answer"
as regisseur-01
show "$KP" request "$CASE" --from politie --category politie-incidenten --purpose plan-van-aanpak --subject S1 --subject S3
show "$KP" request "$CASE" --from om --category om-voorwaarden --purpose plan-van-aanpak --subject S3
show "$KP" request "$CASE" --from reclassering --category reclassering-toezicht --purpose plan-van-aanpak --subject S3
show "$KP" request "$CASE" --from veilig-thuis --category veilig-thuis-meldingen --purpose plan-van-aanpak
show "$KP" request "$CASE" --from rvdk --category rvdk-onderzoeksstatus --purpose plan-van-aanpak --subject S2
show "$KP" request "$CASE" --from jeugdbescherming --category jeugdbescherming-maatregelen --purpose plan-van-aanpak --subject S2

step "A4. Medical secrecy: GGz, the CIT and the Spoedplein answer only with the subject's consent"
expect_exit 3 "$KP" request "$CASE" --from ggz --category ggz-in-zorg --purpose plan-van-aanpak --subject S3
show "$KP" case consent "$CASE" --subject S3 --purpose plan-van-aanpak --until 2027-06-30
show "$KP" request "$CASE" --from ggz --category ggz-in-zorg --purpose plan-van-aanpak --subject S3
show "$KP" request "$CASE" --from novadic --category verslavingszorg-in-zorg --purpose plan-van-aanpak --subject S3
show "$KP" request "$CASE" --from cit --category cit-inzet --purpose plan-van-aanpak --subject S3
say "the Spoedplein's forensic-medical report of the victim: refused without consent, then given without the photos"
expect_exit 3 "$KP" request "$CASE" --from spoedplein-etz --category spoedplein-letselrapportage --purpose veiligheidstaxatie --subject S1
show "$KP" case consent "$CASE" --subject S1 --purpose veiligheidstaxatie --until 2027-06-30
show "$KP" request "$CASE" --from spoedplein-etz --category spoedplein-letselrapportage --purpose veiligheidstaxatie --subject S1

step "A5. Acute danger: the police are asked with a justification (weapons field allowed, privacy officer notified)"
show "$KP" request "$CASE" --from politie --category politie-incidenten --purpose acuut-gevaar-afwenden --subject S3 \
  --justification "Dreiging met een wapen gemeld op 2026-11-26 (fictief)" --json

step "A6. A living case: the mother's new partner moves in and is added as a housemate"
cat >desk/huisgenoot.yaml <<'YAML'
ref: S4
bsn: "999990093"
name: "Jesse Huisgenoot (fictief)"
date_of_birth: 1985-12-01
YAML
show "$KP" case add-subject "$CASE" --subject housemate:desk/huisgenoot.yaml
forget desk/huisgenoot.yaml

step "A7. Phases 2 and 3 (stabiele veiligheid, risicogestuurde zorg): the municipality may now be asked; the OM leaves"
show "$KP" case phase "$CASE" stabiele-veiligheid
show "$KP" request "$CASE" --from gemeente --category gemeente-ondersteuning --purpose plan-van-aanpak --subject S1
show "$KP" case phase "$CASE" risicogestuurde-zorg
say "the OM's part is done (the criminal case is settled): the OM leaves the case and is no longer asked"
show "$KP" case remove-partner "$CASE" om --reason strafzaak-afgerond
expect_exit 3 "$KP" request "$CASE" --from om --category om-voorwaarden --purpose plan-van-aanpak --subject S3

step "A7b. The plan goes to the police, who carry out its agreements (R-VT-PLAN-01)"
say "The casusregisseur signs the content and seals it to the police's agent; the gateway decides it as a"
say "disclosure from the Veiligheidsteam to the police; the agent checks it again and hands it to its sink."
cat >desk/plan.json <<'JSON'
{"categories": [{"category": "veiligheidsplan", "records": [{"subject_ref": "S1", "fields": {
  "veiligheidsafspraken": "voorrang bij een melding op het woonadres; toezicht op het contactverbod",
  "verantwoordelijke-partner": "politie", "evaluatiedatum": "2027-01-15"}}]}]}
JSON
show "$KP" send "$CASE" --to politie --purpose plan-van-aanpak --category veiligheidsplan --content desk/plan.json \
  --from-closure --keep-days 90
forget desk/plan.json
for _ in $(seq 1 30); do [[ -n "$(ls -A data/politie-ontvangen)" ]] && break; sleep 0.1; done
say "in the police's own systems (their sink folder): $(ls data/politie-ontvangen | wc -l) item(s), kept until 90 days after the case closes"

step "A8. A marked moment: the case is handed to the wijkteam's casuscoördinator"
say "The offer and the acceptance are two signed commands in the case's history. Of the fragments"
say "the casusregisseur holds, only those the policy gives the wijkteam's role go over, sealed to it,"
say "with the agents' signatures intact; the gateway keeps the others back (the wijkteam asks anew)."
show "$KP" case handover "$CASE" --to wijkteam-01 --reason naar-wijkteam
as wijkteam-01
show "$KP" case accept-handover "$CASE"
say "the casuscoördinator now coordinates (for at most 18 months, from the policy) and asks what its rules allow:"
show "$KP" request "$CASE" --from veilig-thuis --category veilig-thuis-veiligheidsbeoordeling --purpose plan-van-aanpak --subject S1
expect_exit 3 "$KP" request "$CASE" --from veilig-thuis --category veilig-thuis-meldingen --purpose plan-van-aanpak --subject S1
as regisseur-01
say "the former coordinator can no longer act on the case:"
expect_exit 3 "$KP" request "$CASE" --from politie --category politie-incidenten --purpose plan-van-aanpak --subject S1
as wijkteam-01
show "$KP" case show "$CASE"

# =============================================================================
step "B1. Samen op in Acuut — 02:10 at night: the police on the scene open an acute case"
say "(the demo plays the night and the next morning seconds apart; every time shown is real)"
as politie-acuut-01
cat >desk/gezin-b.yaml <<'YAML'
- {ref: S1, role: victim, bsn: "999990044", name: "Sam Proefpersoon (fictief)", date_of_birth: 1992-02-14}
- {ref: S2, role: child, bsn: "999990068", name: "Lou Proefpersoon (fictief)", date_of_birth: 2019-08-30}
- {ref: S3, role: suspected-perpetrator, bsn: "999990056", name: "Alex Proefpersoon (fictief)", date_of_birth: 1990-07-07}
YAML
show "$KP" acute open --purpose acuut-gevaar-afwenden --subjects desk/gezin-b.yaml | tee case-b.txt
forget desk/gezin-b.yaml
ACUTE="$(tail -1 case-b.txt)"
say "police, Veilig Thuis and the CIT are admitted at once and told; the acute window is 72 hours"

step "B2. Veilig Thuis and the CIT are told at once"
as veilig-thuis-01
show "$KP" inbox
as cit-01
show "$KP" inbox

step "B3. On the scene: is the family known to Veilig Thuis? What did the CIT do?"
as politie-acuut-01
show "$KP" request "$ACUTE" --from veilig-thuis --category veilig-thuis-meldingen \
  --category veilig-thuis-veiligheidsbeoordeling --purpose acuut-gevaar-afwenden --subject S1
say "The CIT's data fall under medical secrecy: without consent only on vital interest (R-ACUUT-CIT-01),"
say "after the conflict-of-duties weighing and with the approval of the CIT's own crisis worker."
expect_exit 3 "$KP" request "$ACUTE" --from cit --category cit-inzet --purpose acuut-gevaar-afwenden --subject S3 \
  --justification "Verdachte dreigt terug te komen; kinderen in huis (fictief)"
say "a free text is not the weighing: refused. The police answer the five questions (sealed to the CIT's agent):"
cat >desk/afweging-cit.yaml <<'YAML'
consent: De vermoedelijke pleger is psychotisch ontregeld en niet aanspreekbaar (fictief).
harm: Verdachte dreigt terug te komen; moeder en kind lopen ernstig gevaar (fictief).
no_other_way: De behandelaar is vannacht niet bereikbaar; er is geen andere weg (fictief).
effect: De agenten weten welke maatregelen lopen en wanneer het CIT terugkomt.
minimum: Alleen de inzet, de maatregelen en de vervolgafspraak, niet de aard van de crisis.
approver: Brigadier P. Jansen, basisteam Tilburg (fictief)
YAML
expect_exit 4 "$KP" request "$ACUTE" --from cit --category cit-inzet --purpose acuut-gevaar-afwenden --subject S3 \
  --weighing-file desk/afweging-cit.yaml --wait 2
forget desk/afweging-cit.yaml
show "$KP" case show "$ACUTE"
say "the CIT's agent holds the request; its crisis worker (the poortwachter) decides, on the agent's machine:"
AS=cit-crisisdienst
agent_cmd approvals list --config agent-cit.yaml
HELD="$("$AGENT" approvals list --config agent-cit.yaml | awk -v c="$ACUTE" '$2 == "waiting" && $4 == c {print $1; exit}')"
agent_cmd approvals approve "$HELD" --config agent-cit.yaml --by "M. de Vries, crisisdienst CIT (fictief)"
as politie-acuut-01
show "$KP" inbox --case "$ACUTE"
say "only whether the CIT came, what it did and the follow-up appointment — not the nature of the crisis"
show "$KP" case list

step "B4. 08:30 the next morning: the police hand the acute case to Veilig Thuis"
show "$KP" case handover "$ACUTE" --to veilig-thuis-01 --reason overdracht-na-acuut
as veilig-thuis-01
show "$KP" case accept-handover "$ACUTE"
say "the acute window ends with the handover; Veilig Thuis coordinates (monitoring, at most 18 months)"
show "$KP" request "$ACUTE" --from politie --category politie-incidenten --purpose acuut-gevaar-afwenden \
  --subject S1 --subject S3 --justification "Huisbezoek vandaag 10:00 met het CIT; wapen gemeld (fictief)"
as politie-acuut-01
say "the police no longer coordinate the case:"
expect_exit 3 "$KP" request "$ACUTE" --from veilig-thuis --category veilig-thuis-meldingen --purpose acuut-gevaar-afwenden --subject S1
as veilig-thuis-01
show "$KP" case show "$ACUTE"

# =============================================================================
step "C. The privacy officer pulls the audit log, verifies it and writes the report"
as fg-01
say "the notices the gateway held for the privacy officer (a rule said: notify the privacy officer), then acknowledged:"
show "$KP" audit notices
prompt "$KP" audit pull --gateway "$ENDPOINT" --gateway-card keys/gateway.card --identity keys/fg-01.secret --out audit-copy
"$KP" audit pull --gateway "$ENDPOINT" --gateway-card keys/gateway.card --identity keys/fg-01.secret --out audit-copy
# The log's key the privacy officer pinned when the gateway was installed, and
# a checkpoint the police agent kept from one of its receipts.
cp run/gateway/audit/log.vkey pinned-gateway-log.vkey
KEPT="$(ls run/politie-agent/gateway-checkpoints/* | head -1)"
prompt "$KP" audit verify audit-copy --key pinned-gateway-log.vkey --checkpoint "$KEPT"
"$KP" audit verify audit-copy --key pinned-gateway-log.vkey --checkpoint "$KEPT"
say "regisseur-01's read log (NEN 7513: every time a fragment was shown), a copy of the folder verified"
say "with the key the privacy officer takes from regisseur-01's card in the signed registry:"
cp -r stores/regisseur-01/read-log read-log-regisseur-01
show "$KP" audit read-log-key regisseur-01 --registry registry --enrolment-card keys/enrolment-hvb.card \
  --out regisseur-01.read-log.vkey
show "$KP" audit verify read-log-regisseur-01 --key regisseur-01.read-log.vkey
prompt "$KP" audit show read-log-regisseur-01 --event fragment-shown
"$KP" audit show read-log-regisseur-01 --event fragment-shown >read-log-regisseur-01.txt
head -4 read-log-regisseur-01.txt
say "... $(($(wc -l <read-log-regisseur-01.txt) - 1)) showings in all (read-log-regisseur-01.txt)"
prompt "$KP" audit report audit-copy --key pinned-gateway-log.vkey --out audit-report.html
"$KP" audit report audit-copy --key pinned-gateway-log.vkey --out audit-report.html
say "audit-report.html: both cases, with the referral, the handovers and the acute window on their timelines"
say "an access request (AVG art. 15) from the mother in the first case: her records in the gateway's log and"
say "regisseur-01's read log, found by her keyed pseudonyms (the BSN read from standard input, never on the"
say "command line), and a draft answer in Dutch that names no one else, nor her BSN or name:"
prompt "$KP" audit subject --bsn - --pseudonym-key keys/region.pseudonym-key --log-key audit-copy=pinned-gateway-log.vkey \
  --log-key read-log-regisseur-01=regisseur-01.read-log.vkey --out inzage-S1.html audit-copy read-log-regisseur-01
echo 999990019 | "$KP" audit subject --bsn - --pseudonym-key keys/region.pseudonym-key \
  --log-key audit-copy=pinned-gateway-log.vkey --log-key read-log-regisseur-01=regisseur-01.read-log.vkey \
  --out inzage-S1.html audit-copy read-log-regisseur-01
say "inzage-S1.html: her records (the case, the requests about her, what was disclosed to whom, each time"
say "a professional was shown a fragment about her) and AVG art. 15 a-h, as a draft for the privacy officer"
prompt "$KP" policy register "$POLICY" --out register.html
"$KP" policy register "$POLICY" --out register.html
say "register.html: the register of processing activities (AVG art. 30) the policy describes"

step "D. No personal data left the partners' or coordinators' machines in the clear"
# Everything in the demo folder but the partners' own source data (data/):
# the logs, the gateway's and the agents' data and audit logs, the audit copy,
# the report, every coordinator's store, the configurations.
LEAKS=0
for needle in 999990019 999990044 999990081 999990093 "Demi de Voorbeeld" "Robin Testmans" "Sam Proefpersoon" \
  "Noor Fictief" "Jesse Huisgenoot" "Dreiging met een wapen" "Verdachte dreigt terug" "Huisbezoek vandaag" \
  "psychotisch ontregeld" "Brigadier P. Jansen" "toezicht op het contactverbod" \
  "NIET DELEN"; do
  if grep -rqa --exclude-dir=data -- "$needle" . 2>/dev/null; then
    echo "!! found '$needle' outside data/: $(grep -rla --exclude-dir=data -- "$needle" . | head -3 | tr '\n' ' ')" >&2
    LEAKS=1
  fi
done
if [[ -n "$(ls -A desk)" ]]; then
  echo "!! subject files left on disk: $(ls desk)" >&2
  LEAKS=1
fi
((LEAKS == 0)) || exit 1
say "searched everything here but the partners' own data/ (logs, the gateway's and agents' data, the"
say "audit copy and report, every coordinator's store) for the subjects' BSNs, names, the justification"
say "texts and the fields no rule allows ('NIET DELEN'): not found — the stores keep subjects and"
say "fragments encrypted, the gateway never saw them; no subject file is left in desk/"

cleanup
trap - EXIT
step "Done in $((SECONDS - START)) s"
cat <<TXT
Everything is in $DEMO:
  audit-report.html      the privacy officer's report of both cases (open it in a browser)
  register.html          the register of processing activities (AVG art. 30) from the policy
  inzage-S1.html         a draft answer to the mother's access request (AVG art. 15), without her BSN or name
  audit-copy/            the pulled audit log, verified against the pinned key
  read-log-regisseur-01/ regisseur-01's read log (NEN 7513), verified against its card's key
  stores/<participant>/  each coordinator's local store (fragments sealed, subjects encrypted)
  clients/<participant>.yaml  each coordinator's client configuration (docs/cli.md)
  logs/                  the gateway's and the agents' logs: ids only, no personal data
  run/<agent>/audit/     each agent's own log of what it disclosed
  *.yaml                 the gateway's and agents' configurations (docs/operations.md, docs/agent.md)
TXT
