#!/bin/sh
# `ketenpoort policy` as a person runs it: exit codes 0/1/2 and messages.
# Usage: policy_cli_test.sh KETENPOORT_BINARY   (run from the source root)
set -u
K="$1"
P=policy/examples/veiligheidsteam-hvb.yaml
T=policy/examples/veiligheidsteam-hvb.tests.yaml
BAD=tests/policy/bad_policies/two-errors.yaml
fail() { echo "FAIL: $*"; exit 1; }
out=$(mktemp -d) || exit 1
trap 'rm -rf "$out"' EXIT

"$K" policy check "$P" >"$out/o" 2>"$out/e"; rc=$?
[ $rc -eq 0 ] || fail "check of the example: exit $rc"
grep -q "OK ([0-9][0-9]* rules, policy sha256 [0-9a-f]\{64\})" "$out/o" || fail "check output: $(cat "$out/o")"

"$K" policy check "$BAD" >"$out/o" 2>"$out/e"; rc=$?
[ $rc -eq 1 ] || fail "check of a bad policy: exit $rc"
grep -qx "$BAD:58:11: error: unknown partner 'politi'" "$out/e" || fail "first error missing: $(cat "$out/e")"
grep -qx "$BAD:80:23: error: retention of 900 days exceeds the maximum of 180 days of legal basis 'toestemming'" \
  "$out/e" || fail "second error missing: $(cat "$out/e")"

"$K" policy explain "$P" --from ggz --to veiligheidsteam/casusregisseur --category ggz-in-zorg \
  --purpose plan-van-aanpak --phase stabiele-veiligheid --member --json >"$out/o" 2>"$out/e"; rc=$?
[ $rc -eq 0 ] || fail "explain: exit $rc $(cat "$out/e")"
grep -q '"effect": "deny"' "$out/o" || fail "explain json: $(cat "$out/o")"
grep -q 'no consent recorded for this subject and purpose; rule R-GGZ-01 requires it' "$out/o" \
  || fail "explain reason: $(cat "$out/o")"

"$K" policy explain "$P" --from ggz --to veiligheidsteam/casusregisseur --category ggz-in-zorg \
  --purpose plan-van-aanpak --phase stabiele-veiligheid --member --consent >"$out/o" 2>"$out/e"; rc=$?
[ $rc -eq 0 ] || fail "explain permit: exit $rc"
grep -q "^decision: permit" "$out/o" || fail "explain permit: $(cat "$out/o")"
grep -q "fields of ggz-in-zorg: in-zorg contactpersoon" "$out/o" || fail "explain fields: $(cat "$out/o")"

"$K" policy explain "$P" --from nobody --to veiligheidsteam --category ggz-in-zorg \
  --purpose plan-van-aanpak --phase herstel >"$out/o" 2>"$out/e"; rc=$?
[ $rc -eq 1 ] || fail "explain with an unknown partner: exit $rc"
grep -q "the policy has no partner 'nobody'" "$out/e" || fail "unknown partner message: $(cat "$out/e")"

"$K" policy explain "$P" --from ggz >"$out/o" 2>"$out/e"; rc=$?
[ $rc -eq 2 ] || fail "explain without required options: exit $rc"

"$K" policy test "$P" "$T" >"$out/o" 2>"$out/e"; rc=$?
[ $rc -eq 0 ] || fail "test of the example: exit $rc $(cat "$out/o")"
grep -q "every rule is reached by a test" "$out/o" || fail "coverage line: $(cat "$out/o")"

sed 's/rules: \[R-GGZ-01\]/rules: [R-GGZ-02]/' "$T" >"$out/t.yaml"
"$K" policy test "$P" "$out/t.yaml" >"$out/o" 2>"$out/e"; rc=$?
[ $rc -eq 1 ] || fail "test with a mismatch: exit $rc"
grep -q "^FAIL in care at GGz, with consent ($out/t.yaml:" "$out/o" || fail "mismatch not named: $(cat "$out/o")"
grep -q "rules: expected \[R-GGZ-02\], got \[R-GGZ-01\]" "$out/o" || fail "mismatch detail: $(cat "$out/o")"
echo "policy CLI: all checks passed"
