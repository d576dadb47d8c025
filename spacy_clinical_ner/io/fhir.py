"""FHIR output: one ``Bundle`` (type ``collection``) per note, built and validated with
``fhir.resources`` (the ``R4B`` models, FHIR 4.3.0: ``fhir.resources`` 8 ships R5 as its
default, R4B and STU3, and no separate 4.0.1 package; R4B keeps R4's structure for every
resource used here, so the JSON is what an R4 server expects).

What goes in the Bundle (entries get deterministic ``urn:uuid`` full URLs, so a re-run
writes identical files):

* ``Patient`` – an empty placeholder that every resource points at (the note's patient
  is not identified by the pipeline).
* ``DocumentReference`` – the source note (identifier = note id, size and SHA-1 of the
  text, never the text itself); resources point back at it where FHIR allows
  (``Condition.evidence``, ``MedicationStatement.derivedFrom``, ``Observation.derivedFrom``).
* ``Condition`` – ``Disease_disorder`` and ``Sign_symptom`` entities. ``verificationStatus``:
  negated → ``refuted``, uncertain → ``provisional``, otherwise ``confirmed``; left out when
  the pipeline made no assertion (no ConText: nothing was checked). Related
  ``Severity`` → ``severity``, related ``Biological_structure`` → ``bodySite``.
* ``FamilyMemberHistory`` – a disease or symptom asserted of someone else (``is_family``).
* ``MedicationStatement`` – ``Medication`` entities; status ``not-taken`` when negated,
  ``unknown`` when uncertain or not assessed, ``completed`` when historical, else ``active``;
  related ``Dosage`` / ``Frequency`` /
  ``Administration`` entities become ``dosage[].text``.
* ``Observation`` – a ``Diagnostic_procedure`` with a related ``Lab_value``
  (``valueString`` = the value as written), status ``final`` (``unknown`` when uncertain or
  not assessed).
* ``Procedure`` – other ``Diagnostic_procedure`` and ``Therapeutic_procedure`` entities;
  status ``not-done`` when negated, ``unknown`` when uncertain or not assessed, else ``completed``.
* ``OperationOutcome`` – the only entry of the Bundle of a note that failed.

Hypothetical findings ("return if fever develops") are not facts about the patient and
get no resource, nor do medications, observations and procedures of someone else (they
all stay in the JSONL). Codes: ``code.text`` is the entity text; a linked entity also gets
a coding in its concept's own system (``concepts.ConceptId``): a CUI under
``http://www.nlm.nih.gov/research/umls``, ``DRUGBANK:DB01050`` as code ``DB01050`` of
``https://go.drugbank.com/drugs``, ``HP:0001250`` under ``http://human-phenotype-ontology.org``,
and so on; an id of a terminology the package does not know gets a coding without a system. Control characters that FHIR's
``string`` type forbids (form feed, vertical tab ...) are written as spaces.

Full URLs are UUIDs derived from the note id and, when the note's text is given, its SHA-1:
the same note gives the same Bundle on every run, two notes that share an id do not.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from typing import Any, Dict, List

from ..concepts import SYSTEMS, ConceptId
from ..errors import missing_extra
from .records import ASSERTION_FLAGS

NOTE_ID_SYSTEM = "urn:spacy-clinical-ner:note-id"
VER_STATUS_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-category"
SNOMED = SYSTEMS["SNOMEDCT"].uri
ROLE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
_NAMESPACE = uuid.UUID("6f2d8a52-4a8e-4f8e-9a57-3b1c2e6c1f10")

CONDITION_LABELS = {"Disease_disorder", "Sign_symptom"}
MEDICATION_LABELS = {"Medication"}
DIAGNOSTIC_LABELS = {"Diagnostic_procedure"}
THERAPEUTIC_LABELS = {"Therapeutic_procedure"}
DOSAGE_LABELS = {"Dosage", "Frequency", "Administration"}
VALUE_LABELS = {"Lab_value"}
SEVERITY_LABELS = {"Severity"}
SITE_LABELS = {"Biological_structure"}


#: C0 controls outside FHIR's ``string`` pattern ``[ \r\n\t\S]+``.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def fhir_string(text: str) -> str:
    """``text`` as a FHIR ``string``: the control characters it forbids (form feed, bell ...) become spaces
    (ids, names and texts of the input may hold any character)."""
    return _CONTROL.sub(" ", text)


def _urn(note_key: str, *parts: Any) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, '/'.join([note_key, *map(str, parts)]))}"


def _assessed(entity: Dict[str, Any]) -> bool:
    return entity.get("assertion") is not None or any(entity.get(flag) is not None for flag in ASSERTION_FLAGS)


def _concept(entity: Dict[str, Any]) -> Dict[str, Any]:
    concept: Dict[str, Any] = {"text": fhir_string(entity["text"])}
    # records written before concept_id existed carry the id in "cui"
    cid = ConceptId.parse(entity.get("concept_id") or entity.get("cui"))
    if cid is not None:
        coding = {"code": cid.code}
        if cid.system:
            coding = {"system": cid.system, **coding}
        if entity.get("concept_name"):
            coding["display"] = fhir_string(entity["concept_name"])
        concept["coding"] = [coding]
    return concept


def _note(record_id: str, entity: Dict[str, Any]) -> List[Dict[str, str]]:
    cue = f"; cue {entity['cue']['text']!r} ({entity['cue'].get('category')})" if entity.get("cue") else ""
    if entity.get("confidence") is not None:
        cue += f"; confidence {entity['confidence']:.2f}"
    return [
        {
            "text": fhir_string(
                f"spacy-clinical-ner: {entity['label']} at characters {entity['start']}-{entity['end']} of note {record_id}; "
                f"assertion {entity.get('assertion') or 'not assessed'}{cue}"
            )
        }
    ]


def _neighbours(record: Dict[str, Any]) -> Dict[int, List[int]]:
    """For each entity index, the entities linked to it by a relation (either way), in relation
    order: one pass over the relations, so the writer is linear in entities + relations."""
    out: Dict[int, List[int]] = {}
    for rel in record.get("relations", []):
        head, tail = rel["head"], rel["tail"]
        if head != tail:
            out.setdefault(head, []).append(tail)
            out.setdefault(tail, []).append(head)
    return out


def _related(record: Dict[str, Any], neighbours: Dict[int, List[int]], index: int, labels: set) -> List[Dict[str, Any]]:
    """Entities with one of ``labels`` linked to entity ``index`` by a relation (either way)."""
    entities = record["entities"]
    return [entities[other] for other in neighbours.get(index, ()) if entities[other]["label"] in labels]


def _is(entity: Dict[str, Any], flag: str, assertion: str) -> bool:
    return bool(entity.get(flag)) or entity.get("assertion") == assertion


def record_to_bundle_dict(record: Dict[str, Any], text: str | None = None) -> Dict[str, Any]:
    """The Bundle of one output record, as FHIR JSON (validate with ``record_to_bundle``)."""
    note_id = record["id"]
    written_id = fhir_string(note_id)  # an id is any string of the input: no control characters in FHIR
    # the URLs' seed: the id, and the text's hash when there is a text (ids repeat across corpora)
    key = note_id if text is None else f"{note_id}/{hashlib.sha1(text.encode('utf8', 'surrogatepass')).hexdigest()}"
    bundle: Dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "collection",
        "identifier": {"system": NOTE_ID_SYSTEM, "value": written_id},
        "entry": [],
    }
    entries = bundle["entry"]
    if record.get("error"):
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "error",
                    "code": "processing",
                    "details": {"text": record["error"]["code"]},
                    "diagnostics": fhir_string(record["error"]["message"]),
                }
            ],
        }
        entries.append({"fullUrl": _urn(key, "outcome"), "resource": outcome})
        return bundle

    patient_url, doc_url = _urn(key, "patient"), _urn(key, "document")
    subject = {"reference": patient_url}
    entries.append({"fullUrl": patient_url, "resource": {"resourceType": "Patient"}})
    attachment: Dict[str, Any] = {"contentType": "text/plain; charset=utf-8", "title": f"note {written_id}"}
    if text is not None:
        data = text.encode("utf8")
        attachment.update(size=len(data), hash=base64.b64encode(hashlib.sha1(data).digest()).decode("ascii"))
    entries.append(
        {
            "fullUrl": doc_url,
            "resource": {
                "resourceType": "DocumentReference",
                "status": "current",
                "identifier": [{"system": NOTE_ID_SYSTEM, "value": written_id}],
                "subject": subject,
                "content": [{"attachment": attachment}],
            },
        }
    )
    evidence = {"reference": doc_url}
    neighbours = _neighbours(record)

    for i, ent in enumerate(record["entities"]):
        label = ent["label"]
        if _is(ent, "is_hypothetical", "hypothetical") or ent.get("assertion") == "conditional":
            continue
        negated = _is(ent, "is_negated", "absent")
        # not established as a fact: uncertain, or never looked at by ConText
        unsure = _is(ent, "is_uncertain", "possible") or not _assessed(ent)
        family = _is(ent, "is_family", "associated_with_someone_else")
        resource: Dict[str, Any] | None = None
        if family and label not in CONDITION_LABELS:
            continue  # someone else's medication or procedure is not the patient's
        if label in CONDITION_LABELS and family:
            if negated:
                continue  # "no family history of X": FHIR has no refuted family condition
            resource = {
                "resourceType": "FamilyMemberHistory",
                "status": "completed",
                "patient": subject,
                "relationship": {"coding": [{"system": ROLE_SYSTEM, "code": "FAMMEMB", "display": "family member"}]},
                "condition": [{"code": _concept(ent), "note": _note(note_id, ent)}],
            }
        elif label in CONDITION_LABELS:
            status = "refuted" if negated else "provisional" if _is(ent, "is_uncertain", "possible") else "confirmed"
            category = (
                {"coding": [{"system": CATEGORY_SYSTEM, "code": "encounter-diagnosis", "display": "Encounter Diagnosis"}]}
                if label == "Disease_disorder"
                else {"coding": [{"system": SNOMED, "code": "418799008", "display": "Finding reported by subject or history provider"}]}
            )
            resource = {
                "resourceType": "Condition",
                "verificationStatus": {"coding": [{"system": VER_STATUS_SYSTEM, "code": status}]},
                "category": [category],
                "code": _concept(ent),
                "subject": subject,
                "evidence": [{"detail": [evidence]}],
                "note": _note(note_id, ent),
            }
            if not _assessed(ent):
                del resource["verificationStatus"]  # 0..1: nothing was checked, so claim nothing
            severity = _related(record, neighbours, i, SEVERITY_LABELS)
            if severity:
                resource["severity"] = {"text": severity[0]["text"]}
            sites = _related(record, neighbours, i, SITE_LABELS)
            if sites:
                resource["bodySite"] = [_concept(s) for s in sites]
        elif label in MEDICATION_LABELS:
            status = (
                "not-taken" if negated else "unknown" if unsure else "completed" if _is(ent, "is_historical", "historical") else "active"
            )
            resource = {
                "resourceType": "MedicationStatement",
                "status": status,
                "medicationCodeableConcept": _concept(ent),
                "subject": subject,
                "derivedFrom": [evidence],
                "note": _note(note_id, ent),
            }
            dosage = _related(record, neighbours, i, DOSAGE_LABELS)
            if dosage:
                resource["dosage"] = [{"text": fhir_string(" ".join(d["text"] for d in dosage))}]
        elif label in DIAGNOSTIC_LABELS and not negated and _related(record, neighbours, i, VALUE_LABELS):
            value = _related(record, neighbours, i, VALUE_LABELS)[0]
            resource = {
                "resourceType": "Observation",
                "status": "unknown" if unsure else "final",
                "code": _concept(ent),
                "subject": subject,
                "valueString": fhir_string(value["text"]),
                "derivedFrom": [evidence],
                "note": _note(note_id, ent),
            }
        elif label in DIAGNOSTIC_LABELS or label in THERAPEUTIC_LABELS:
            category = (
                {"coding": [{"system": SNOMED, "code": "103693007", "display": "Diagnostic procedure"}]}
                if label in DIAGNOSTIC_LABELS
                else {"coding": [{"system": SNOMED, "code": "277132007", "display": "Therapeutic procedure"}]}
            )
            resource = {
                "resourceType": "Procedure",
                "status": "not-done" if negated else "unknown" if unsure else "completed",
                "category": category,
                "code": _concept(ent),
                "subject": subject,
                "note": _note(note_id, ent),
            }
            sites = _related(record, neighbours, i, SITE_LABELS)
            if sites:
                resource["bodySite"] = [_concept(s) for s in sites]
        if resource is not None:
            entries.append({"fullUrl": _urn(key, "entity", i), "resource": resource})
    return bundle


def _bundle_model():
    try:
        from fhir.resources.R4B.bundle import Bundle
    except ModuleNotFoundError as err:  # pip install 'spacy-clinical-ner[fhir]'
        raise missing_extra("FHIR output", err) from None
    return Bundle


def record_to_bundle(record: Dict[str, Any], text: str | None = None):
    """The validated ``fhir.resources.R4B.bundle.Bundle`` of one output record."""
    Bundle = _bundle_model()
    return Bundle.model_validate(record_to_bundle_dict(record, text))


def bundle_json(record: Dict[str, Any], text: str | None = None) -> str:
    """FHIR JSON of the Bundle, after validating it with ``fhir.resources``.

    The validated dict is written with ``json`` (the library's own serializer would double
    the cost and writes the same content)."""
    bundle = record_to_bundle_dict(record, text)
    _bundle_model().model_validate(bundle)
    return json.dumps(bundle, ensure_ascii=False, indent=1)
