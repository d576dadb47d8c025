"""The patient view: notes grouped by patient, and per patient a de-duplicated problem list,
medication list and family history, each item with its first and last mention, its assertion
over time and the notes it comes from. Written as JSON and as one FHIR Bundle per batch.

An item is one concept (or, unlinked, one normalised term) of one list:

* ``problems`` - ``Disease_disorder`` / ``Sign_symptom`` mentions about the patient (family
  history excluded), whatever their assertion; ``asserted`` is true when at least one mention
  is *present*: only those become ``HAS_PROBLEM`` edges and confirmed FHIR Conditions.
* ``medications`` - ``Medication`` mentions about the patient (``TAKES_MEDICATION`` when asserted).
* ``family_history`` - condition mentions of someone else: never the patient's fact.

Notes are ordered by date when every note of the patient has an ISO 8601 date (``2024-03-02``,
``2024-03-02T10:30``), else by input order; "first" and "last" follow that order.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any, Dict, List

from ..context.attributes import ABSENT, CONDITIONAL, HYPOTHETICAL, POSSIBLE, PRESENT
from .model import ClinicalGraph, Mention
from .vocabulary import HAS_PROBLEM, TAKES_MEDICATION, assertion_of, concept_system, fact_type, is_family, is_patient_fact

LISTS = {HAS_PROBLEM: "problems", TAKES_MEDICATION: "medications"}
FAMILY = "family_history"
PATIENT_ID_SYSTEM = "urn:spacy-clinical-ner:patient-id"
NOTE_ID_SYSTEM = "urn:spacy-clinical-ner:note-id"
_NAMESPACE = uuid.UUID("0b6c61a4-6a0e-4c4e-9d6e-2f3f0d7c51a2")
#: An ISO 8601 date (optionally followed by a time): what orders a patient's notes.
_DATE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")


def _ordered(graph: ClinicalGraph) -> Dict[str, List[Any]]:
    """Note infos per patient, in timeline order."""
    by_patient: Dict[str, List[Any]] = {}
    for info in graph.notes:
        by_patient.setdefault(info.patient_id, []).append(info)
    for infos in by_patient.values():
        if all(i.date and _DATE.match(i.date) for i in infos):
            infos.sort(key=lambda i: (i.date, i.order))
    return by_patient


def _mention_summary(m: Mention) -> Dict[str, Any]:
    e = m.entity
    return {
        "note_id": m.note.note_id,
        "date": m.note.date,
        "text": e.get("text"),
        "start": e.get("start"),
        "end": e.get("end"),
        "assertion": assertion_of(e),
    }


def _item(graph: ClinicalGraph, node_id: str, mentions: List[Mention]) -> Dict[str, Any]:
    node = graph.nodes[node_id]
    own = mentions  # in timeline order
    timeline: List[Dict[str, Any]] = []
    for m in own:
        assertion = assertion_of(m.entity) or "not_assessed"
        last = timeline[-1] if timeline else None
        if last and last["note_id"] == m.note.note_id and last["assertion"] == assertion:
            last["mentions"] += 1
        else:
            timeline.append({"note_id": m.note.note_id, "date": m.note.date, "assertion": assertion, "mentions": 1})
    facts = [m for m in own if is_patient_fact(m.entity)]
    notes = list(dict.fromkeys(m.note.note_id for m in own))
    item: Dict[str, Any] = {
        "node": node_id,
        "concept_id": node.props.get("concept_id"),
        "name": node.props.get("name") or node.props.get("term") or own[0].entity.get("text"),
        "system": node.props.get("system"),
        "term": node.props.get("term"),
        "labels": list(dict.fromkeys(m.entity.get("label") for m in own)),
        "asserted": bool(facts),
        "status": assertion_of(own[-1].entity) or "not_assessed",
        "historical": bool(facts) and all(m.entity.get("is_historical") for m in facts),
        "first_mention": _mention_summary(own[0]),
        "last_mention": _mention_summary(own[-1]),
        "timeline": timeline,
        "notes": notes,
        "mention_count": len(own),
        "present_mentions": len(facts),
    }
    return item


def patient_view(graph: ClinicalGraph) -> List[Dict[str, Any]]:
    """One entry per patient: ``patient_id``, ``notes`` and the three lists (see the module)."""
    order = _ordered(graph)
    rank = {info.note_id: i for infos in order.values() for i, info in enumerate(infos)}
    grouped: Dict[str, Dict[str, Dict[str, List[Mention]]]] = {}
    for m in sorted(graph.mentions, key=lambda m: (rank[m.note.note_id], m.entity.get("start") or 0)):
        kind = fact_type(str(m.entity.get("label")))
        if kind is None:
            continue
        if is_family(m.entity):
            if kind != HAS_PROBLEM:
                continue  # someone else's medication says nothing about the patient
            name = FAMILY
        else:
            name = LISTS[kind]
        lists = grouped.setdefault(m.note.patient_id, {})
        lists.setdefault(name, {}).setdefault(m.node, []).append(m)
    view = []
    for patient_id, infos in order.items():
        lists = grouped.get(patient_id, {})
        entry: Dict[str, Any] = {
            "patient_id": patient_id,
            "notes": [{"note_id": i.note_id, "date": i.date, "error": graph.nodes[f"note:{i.note_id}"].props.get("error")} for i in infos],
        }
        for name in (*LISTS.values(), FAMILY):
            entry[name] = [_item(graph, node, ms) for node, ms in lists.get(name, {}).items()]
        view.append(entry)
    return view


def add_patient_facts(graph: ClinicalGraph) -> None:
    """``HAS_PROBLEM`` / ``TAKES_MEDICATION`` edges for the asserted items of the patient view."""
    for patient in graph.patients:
        for kind, name in LISTS.items():
            for item in patient[name]:
                if not item["asserted"]:
                    continue
                graph.add_edge(
                    f"{patient['patient_id']}#{kind.lower()}:{item['node']}",
                    kind,
                    f"patient:{patient['patient_id']}",
                    item["node"],
                    first_note=item["first_mention"]["note_id"],
                    last_note=item["last_mention"]["note_id"],
                    notes=item["notes"],
                    mentions=item["mention_count"],
                    present_mentions=item["present_mentions"],
                    status=item["status"],
                    historical=item["historical"],
                )


# --------------------------------------------------------------------------- FHIR


def _fhir_date(value: str | None) -> str | None:
    """The ``YYYY-MM-DD`` a note date starts with (None for anything else: FHIR would refuse it)."""
    return value[:10] if value and _DATE.match(value) else None


def _urn(*parts: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, '/'.join(parts))}"


def _code(item: Dict[str, Any]) -> Dict[str, Any]:
    from ..io.fhir import fhir_string

    concept: Dict[str, Any] = {"text": fhir_string(item["name"] or item["term"] or "")}
    if item["concept_id"]:
        system = concept_system(item["concept_id"])
        coding = {"system": system["fhir_system"], "code": system["code"]}
        if item["name"]:
            coding["display"] = fhir_string(item["name"])
        concept["coding"] = [coding]
    return concept


def _timeline_note(item: Dict[str, Any]) -> List[Dict[str, str]]:
    from ..io.fhir import fhir_string

    steps = ", ".join(
        f"{t['note_id']}{' (' + t['date'] + ')' if t['date'] else ''}: {t['assertion']} x{t['mentions']}" for t in item["timeline"]
    )
    return [{"text": fhir_string(f"spacy-clinical-ner: {item['mention_count']} mention(s); assertion over time: {steps}")}]


def _verification(item: Dict[str, Any]) -> str | None:
    """confirmed (a present mention), provisional (possible), refuted (only negated); None for
    findings that were only hypothetical or conditional: no resource (they are not facts)."""
    seen = {t["assertion"] for t in item["timeline"]}
    if item["asserted"]:
        return "confirmed"
    if POSSIBLE in seen:
        return "provisional"
    if seen <= {ABSENT} and seen:
        return "refuted"
    if seen & {HYPOTHETICAL, CONDITIONAL}:
        return None
    return None  # not assessed, or a present mention that a flag contradicts: claim nothing


def _med_status(item: Dict[str, Any]) -> str | None:
    last = item["status"]
    if item["asserted"] and last == PRESENT:
        return "completed" if item["historical"] else "active"
    if last == ABSENT:
        return "not-taken"
    if item["asserted"] or last == POSSIBLE:
        return "unknown"
    return None


def patients_bundle_dict(graph: ClinicalGraph) -> Dict[str, Any]:
    """One FHIR R4B Bundle (``collection``) of the patient view: a Patient and a
    DocumentReference per note, one Condition per problem and one MedicationStatement per
    medication, each pointing at the notes it comes from (``evidence`` / ``derivedFrom``)."""
    from ..io.fhir import fhir_string

    entries: List[Dict[str, Any]] = []
    for patient in graph.patients:
        pid = patient["patient_id"]
        patient_url = _urn("patient", pid)
        subject = {"reference": patient_url}
        entries.append(
            {
                "fullUrl": patient_url,
                "resource": {"resourceType": "Patient", "identifier": [{"system": PATIENT_ID_SYSTEM, "value": fhir_string(pid)}]},
            }
        )
        doc_urls = {}
        for note in patient["notes"]:
            url = doc_urls[note["note_id"]] = _urn("note", note["note_id"])
            resource: Dict[str, Any] = {
                "resourceType": "DocumentReference",
                "status": "current",
                "identifier": [{"system": NOTE_ID_SYSTEM, "value": fhir_string(note["note_id"])}],
                "subject": subject,
                "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "title": fhir_string(f"note {note['note_id']}")}}],
            }
            if _fhir_date(note["date"]):
                resource["date"] = f"{_fhir_date(note['date'])}T00:00:00Z"  # an instant: the day is what the input gives
            entries.append({"fullUrl": url, "resource": resource})
        for item in patient["problems"]:
            status = _verification(item)
            if status is None:
                continue
            resource = {
                "resourceType": "Condition",
                "verificationStatus": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": status}]
                },
                "category": [
                    {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item"}]}
                ],
                "code": _code(item),
                "subject": subject,
                "evidence": [{"detail": [{"reference": doc_urls[n]} for n in item["notes"]]}],
                "note": _timeline_note(item),
            }
            if status != "refuted":
                resource["clinicalStatus"] = {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
                }
            if _fhir_date(item["first_mention"]["date"]):
                resource["recordedDate"] = _fhir_date(item["first_mention"]["date"])
            entries.append({"fullUrl": _urn("condition", pid, item["node"]), "resource": resource})
        for item in patient["medications"]:
            status = _med_status(item)
            if status is None:
                continue
            resource = {
                "resourceType": "MedicationStatement",
                "status": status,
                "medicationCodeableConcept": _code(item),
                "subject": subject,
                "derivedFrom": [{"reference": doc_urls[n]} for n in item["notes"]],
                "note": _timeline_note(item),
            }
            first, last = _fhir_date(item["first_mention"]["date"]), _fhir_date(item["last_mention"]["date"])
            if first and last:
                resource["effectivePeriod"] = {"start": first, "end": last}
            entries.append({"fullUrl": _urn("medication", pid, item["node"]), "resource": resource})
    digest = hashlib.sha1("|".join(n.note_id for n in graph.notes).encode("utf8")).hexdigest()
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "identifier": {"system": "urn:spacy-clinical-ner:patient-view", "value": digest},
        "entry": entries,
    }


def patients_bundle(graph: ClinicalGraph):
    """The validated ``fhir.resources.R4B.bundle.Bundle`` of the patient view."""
    from fhir.resources.R4B.bundle import Bundle

    return Bundle.model_validate(patients_bundle_dict(graph))


def patients_json(graph: ClinicalGraph) -> Dict[str, Any]:
    return {"format": "spacy-clinical-ner.patients.v1", "patients": graph.patients}
