#!/usr/bin/env python3
"""Fictional source data and agent configurations for the Ketenpoort demo.

  make_demo_data.py DATA_DIR
      writes every partner's sample data under DATA_DIR
  make_demo_data.py --agent-config PARTNER ENDPOINT POLICY
      prints the agent configuration of PARTNER (paths relative to the demo folder)

Every name, number and record is made up. Two families:
  the referred family (Veilig Thuis refers it to the Veiligheidsteam):
    BSN 999990019 (victim), 999990020 (child), 999990031 (suspected perpetrator);
  the acute family (the police open an acute case at night):
    BSN 999990044 (victim), 999990068 (child), 999990056 (suspected perpetrator).
"""
import json
import os
import sqlite3
import sys

VICTIM, CHILD, PERPETRATOR = "999990019", "999990020", "999990031"
# The family of the acute case (Samen op in Acuut).
ACUTE_VICTIM, ACUTE_CHILD, ACUTE_PERPETRATOR = "999990044", "999990068", "999990056"

# category -> {bsn: [records]}; fields beyond the policy's allowed ones are
# there on purpose: the agent drops them (e.g. 'interne-notitie', 'diagnose').
JSON_SOURCES = {
    "om-vervolgingsbeslissingen": {
        PERPETRATOR: [{"beslissing": "dagvaarding", "datum-beslissing": "2026-10-20", "zittingsdatum": "2027-01-14"}],
    },
    "om-voorwaarden": {
        PERPETRATOR: [{"soort-voorwaarde": "schorsing voorlopige hechtenis", "ingangsdatum": "2026-10-21",
                       "einddatum": "2027-01-14", "contactverbod": "ja", "locatieverbod": "Tilburg-Noord"}],
    },
    "rvdk-onderzoeksstatus": {
        CHILD: [{"onderzoek-lopend": "ja", "soort-onderzoek": "beschermingsonderzoek", "startdatum": "2026-11-02",
                 "verwachte-afronding": "2027-01-31", "contactpersoon": "raadsonderzoeker-12",
                 "onderzoeksverslag": "NIET DELEN: concept"}],
    },
    "reclassering-toezicht": {
        PERPETRATOR: [{"toezicht-actief": "ja", "einddatum-toezicht": "2027-10-21", "naleving": "wisselend",
                       "contactpersoon": "toezichthouder-04"}],
    },
    "reclassering-bijzondere-voorwaarden": {
        PERPETRATOR: [{"soort-voorwaarde": "contactverbod", "meldplicht": "wekelijks", "contactverbod": "ja",
                       "locatiegebod": "nee", "enkelband": "nee"}],
    },
    "ggz-in-zorg": {
        PERPETRATOR: [{"in-zorg": "ja", "contactpersoon": "behandelaar-07", "diagnose": "NIET DELEN: medisch"}],
    },
    "verslavingszorg-in-zorg": {
        PERPETRATOR: [{"in-zorg": "ja", "contactpersoon": "begeleider-21", "middelengebruik": "NIET DELEN"}],
    },
    "jeugdbescherming-maatregelen": {
        CHILD: [{"maatregel": "ondertoezichtstelling", "ingangsdatum": "2026-06-01", "einddatum": "2027-06-01",
                 "jeugdbeschermer": "jeugdbeschermer-33"}],
    },
    "gemeente-ondersteuning": {
        VICTIM: [{"soort-voorziening": "ambulante begeleiding (Wmo)", "ingangsdatum": "2026-11-15",
                  "contactpersoon-toegang": "consulent-08"}],
    },
    "veiligheidsplan": {},
    # The Spoedplein's forensic-medical reports, exported as JSON files. The
    # photos and the anamnesis never leave the hospital (no rule allows them).
    "spoedplein-letselrapportage": {
        VICTIM: [{"datum-onderzoek": "2026-11-01", "letselbeschrijving": "hematomen bovenarm links (fictief)",
                  "letselduiding": "past bij vastpakken (fictief)", "fotodocumentatie": "NIET DELEN: foto-archief",
                  "forensisch-arts": "forensisch-arts-02", "anamnese": "NIET DELEN: medisch"}],
        ACUTE_VICTIM: [{"datum-onderzoek": "2026-11-30", "letselbeschrijving": "snijwond hand rechts (fictief)",
                        "letselduiding": "past bij afweren van een mes (fictief)",
                        "fotodocumentatie": "NIET DELEN: foto-archief", "forensisch-arts": "forensisch-arts-05",
                        "anamnese": "NIET DELEN: medisch"}],
    },
}

# Veilig Thuis answers through a lookup program (the `command` connector).
VT_RECORDS = {
    "veilig-thuis-meldingen": {
        VICTIM: [{"meldingsdatum": "2026-09-28", "aard-melding": "huiselijk geweld", "status-onderzoek": "afgerond"},
                 {"meldingsdatum": "2026-11-03", "aard-melding": "kindermishandeling", "status-onderzoek": "lopend"}],
        CHILD: [{"meldingsdatum": "2026-11-03", "aard-melding": "kindermishandeling", "status-onderzoek": "lopend"}],
        ACUTE_VICTIM: [{"meldingsdatum": "2026-06-12", "aard-melding": "huiselijk geweld",
                        "status-onderzoek": "afgerond", "melder": "NIET DELEN: de melder"}],
    },
    "veilig-thuis-veiligheidsbeoordeling": {
        VICTIM: [{"oordeel": "onveilig", "datum-beoordeling": "2026-11-04",
                  "veiligheidsafspraken": "opvang bij familie (fictief)"}],
        ACUTE_VICTIM: [{"oordeel": "voorwaardelijk veilig", "datum-beoordeling": "2026-06-20",
                        "veiligheidsafspraken": "geen alcohol in huis; buurvrouw als steunfiguur (fictief)"}],
    },
}

# The Crisis Interventie Team's deployments, in its own SQLite registration.
CIT_ROWS = [
    (PERPETRATOR, "2026-10-02", "suïcidale uitlatingen (fictief)", "thuisbehandeling gestart (fictief)",
     "wekelijks gesprek GGz", "crisisdienst-01", "NIET DELEN: behandelnotitie"),
    (ACUTE_PERPETRATOR, "2026-11-30", "psychotische ontregeling (fictief)", "crisismaatregel aangevraagd (fictief)",
     "2026-11-30 10:00 huisbezoek met Veilig Thuis", "crisisdienst-03", "NIET DELEN: behandelnotitie"),
]

PARTNER_CATEGORIES = {
    "politie": ["politie-incidenten"],
    "om": ["om-vervolgingsbeslissingen", "om-voorwaarden"],
    "rvdk": ["rvdk-onderzoeksstatus"],
    "reclassering": ["reclassering-toezicht", "reclassering-bijzondere-voorwaarden"],
    "ggz": ["ggz-in-zorg"],
    "novadic": ["verslavingszorg-in-zorg"],
    "veilig-thuis": ["veilig-thuis-meldingen", "veilig-thuis-veiligheidsbeoordeling"],
    "jeugdbescherming": ["jeugdbescherming-maatregelen"],
    "gemeente": ["gemeente-ondersteuning"],
    "cit": ["cit-inzet"],
    "spoedplein-etz": ["spoedplein-letselrapportage"],
}

VT_LOOKUP = r'''
import json, sys
RECORDS = %s
subject = json.load(sys.stdin)
print(json.dumps(RECORDS.get(sys.argv[1], {}).get(subject.get("bsn", ""), [])))
'''


def write_data(data):
    os.makedirs(data, mode=0o700, exist_ok=True)
    db = sqlite3.connect(os.path.join(data, "politie.db"))
    db.executescript("""
      CREATE TABLE incidenten(bsn TEXT, datum TEXT, soort TEXT, rol TEXT, geweld TEXT, wapens TEXT, notitie TEXT);
      INSERT INTO incidenten VALUES
        ('999990019', '2026-09-27', 'huiselijk geweld', 'slachtoffer', 'ja', 'nee', 'NIET DELEN: proces-verbaal'),
        ('999990019', '2026-11-01', 'bedreiging', 'slachtoffer', 'nee', 'ja', 'NIET DELEN'),
        ('999990031', '2026-09-27', 'huiselijk geweld', 'verdachte', 'ja', 'nee', 'NIET DELEN'),
        ('999990031', '2026-11-01', 'bedreiging', 'verdachte', 'nee', 'ja', 'NIET DELEN'),
        ('999990044', '2026-11-30', 'huiselijk geweld', 'slachtoffer', 'ja', 'ja', 'NIET DELEN: proces-verbaal'),
        ('999990056', '2026-11-30', 'huiselijk geweld', 'verdachte', 'ja', 'ja', 'NIET DELEN');
    """)
    db.commit()
    db.close()
    db = sqlite3.connect(os.path.join(data, "cit.db"))
    db.execute("CREATE TABLE inzet(bsn TEXT, datum TEXT, crisis TEXT, maatregelen TEXT, vervolg TEXT,"
               " contact TEXT, notitie TEXT)")
    db.executemany("INSERT INTO inzet VALUES (?, ?, ?, ?, ?, ?, ?)", CIT_ROWS)
    db.commit()
    db.close()
    for category, by_bsn in JSON_SOURCES.items():
        folder = os.path.join(data, category)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        for bsn, records in by_bsn.items():
            with open(os.path.join(folder, bsn + ".json"), "w") as f:
                json.dump(records, f, indent=1)
    # The police's sink: where what is sent to them arrives (agent_config).
    os.makedirs(os.path.join(data, "politie-ontvangen"), mode=0o700, exist_ok=True)
    with open(os.path.join(data, "vt-lookup.py"), "w") as f:
        f.write(VT_LOOKUP % json.dumps(VT_RECORDS))


def agent_config(partner, endpoint, policy):
    lines = [
        f"identity: keys/{partner}-agent.secret",
        "gateway:",
        f"  endpoint: {endpoint}",
        "  card: keys/gateway.card",
        "  log_origin: ketenpoort.demo/audit",
        "enrolment_card: keys/enrolment-hvb.card",
        "registry: registry",
        f"policy: {policy}",
        f"data_dir: run/{partner}-agent",
        "heartbeat_interval: 1s",
        "reconnect_min: 100ms",
        "reconnect_max: 2s",
        "categories:",
    ]
    for category in PARTNER_CATEGORIES[partner]:
        lines.append(f"  {category}:")
        lines.append("    source:")
        if category == "politie-incidenten":
            lines += [
                "      kind: sqlite",
                "      database: data/politie.db",
                "      query: >-",
                "        SELECT datum, soort AS incidentsoort, rol AS \"rol-betrokkene\",",
                "               geweld AS \"geweld-gebruikt\", wapens AS \"wapens-aanwezig\", notitie AS \"interne-notitie\"",
                "        FROM incidenten WHERE bsn = :bsn ORDER BY datum",
            ]
        elif category == "cit-inzet":
            lines += [
                "      kind: sqlite",
                "      database: data/cit.db",
                "      query: >-",
                "        SELECT datum AS \"datum-inzet\", crisis AS \"aard-crisis\",",
                "               maatregelen AS \"genomen-maatregelen\", vervolg AS vervolgafspraak,",
                "               contact AS contactpersoon, notitie AS \"interne-notitie\"",
                "        FROM inzet WHERE bsn = :bsn ORDER BY datum",
            ]
        elif partner == "veilig-thuis":
            lookup = os.path.abspath(os.path.join("data", "vt-lookup.py"))
            lines += [
                "      kind: command",
                f"      argv: [{sys.executable}, {lookup}, {category}]",
                "      timeout: 5s",
            ]
        else:
            lines += ["      kind: json-files", f"      folder: data/{category}", "      key: bsn"]
    if partner == "politie":
        # What the coordinator sends the police (the veiligheidsplan under
        # R-VT-PLAN-01) goes to the police's own systems: here a folder.
        lines += ["sink:", "  folder: data/politie-ontvangen"]
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--agent-config":
        sys.stdout.write(agent_config(sys.argv[2], sys.argv[3], sys.argv[4]))
    elif len(sys.argv) == 2:
        write_data(sys.argv[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
