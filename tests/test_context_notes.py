"""ConText rules on visit-note text: sentence ends, list markers, templated negatives, family
scope, historical and uncertainty cues (the blank clinical pipeline; entities set by hand)."""

import re

import pytest

from spacy_clinical_ner.tokenizer import clinical_blank

S, D, M, T, X = "Sign_symptom", "Disease_disorder", "Medication", "Therapeutic_procedure", "Diagnostic_procedure"
ATTRS = {
    "neg": "is_negated",
    "unc": "is_uncertain",
    "hist": "is_historical",
    "hyp": "is_hypothetical",
    "fam": "is_family",
}

# (text, [(entity text, label, expected attributes)]); an entity text that occurs twice is
# looked up after the previous occurrence.
CASES = [
    # 1. sentence ends after "no." / "pt." / time units; "No. 2" stays one sentence
    ("Fever: no. Chest pain: yes.", [("Fever", S, "neg"), ("Chest pain", S, "")]),
    ("Nausea: no. Vomiting: yes.", [("Nausea", S, "neg"), ("Vomiting", S, "")]),
    ("Chest pain: No. Palpitations: Yes, occasional.", [("Chest pain", S, "neg"), ("Palpitations", S, "")]),
    ("Any fever? No. Cough? Yes.", [("Cough", S, "")]),
    ("Denies fever per pt. Cough for 3 days.", [("fever", S, "neg"), ("Cough", S, "")]),
    ("No fever x 2 yrs. Cough noted today.", [("fever", S, "neg"), ("Cough", S, "")]),
    ("No fever for 2 hrs. Has cough.", [("fever", S, "neg"), ("cough", S, "")]),
    ("Walks 10 min. Denies chest pain.", [("chest pain", S, "neg")]),
    ("No chills. pt has cough.", [("chills", S, "neg"), ("cough", S, "")]),
    ("No fever. s/p appendectomy.", [("fever", S, "neg"), ("appendectomy", T, "hist")]),
    # a denied history is absent, not historical (denied_history, session 16; as "No history of" reads)
    ("No hx of CAD. s/p CABG.", [("CAD", D, "neg"), ("CABG", T, "hist")]),
    ("No. 2 chest tube in place without complications.", [("chest tube", T, ""), ("complications", S, "neg")]),
    ("Temp. 98.6 with no fever.", [("fever", S, "neg")]),
    # 2. "#" starts a problem-list item
    (
        "A/P:\n# Chest pain - rule out MI\n# DM2 - continue metformin",
        [("Chest pain", S, ""), ("MI", D, "unc"), ("DM2", D, ""), ("metformin", M, "")],
    ),
    (
        "Plan:\n#pneumonia - no signs of sepsis\n#hypertension - continue lisinopril",
        [("pneumonia", D, ""), ("sepsis", D, "neg"), ("hypertension", D, ""), ("lisinopril", M, "")],
    ),
    # 3. family scope stops at the patient
    ("Patient's mother reports that he has had fever.", [("fever", S, "")]),
    ("Brought in by her daughter for altered mental status.", [("altered mental status", S, "")]),
    ("Son at bedside reports patient has been confused.", [("confused", S, "")]),
    ("Mother has diabetes and the patient has hypertension.", [("diabetes", D, "fam"), ("hypertension", D, "")]),
    ("Mother with breast cancer, patient with hypertension.", [("breast cancer", D, "fam"), ("hypertension", D, "")]),
    ("His brother was diagnosed with schizophrenia.", [("schizophrenia", D, "fam")]),
    # 3b. family-history sections: the patient's own sentences, mid-line headers, relative labels
    # after a named relative, a pronoun is the relative's; "the patient" is the patient
    ("FAMILY HISTORY: Father had colon cancer.\nHe has hemorrhoids.", [("colon cancer", D, "fam"), ("hemorrhoids", D, "fam")]),
    ("FAMILY HISTORY: Mother had breast cancer. She also had diabetes.", [("breast cancer", D, "fam"), ("diabetes", D, "fam")]),
    ("FAMILY HISTORY: Father had colon cancer.\nThe patient has hemorrhoids.", [("colon cancer", D, "fam"), ("hemorrhoids", D, "")]),
    ("Family History: Noncontributory.\nHe has diabetes.", [("diabetes", D, "")]),
    ("Family History: Noncontributory.\nThe patient reports chest pain.", [("chest pain", S, "")]),
    ("FAMILY HISTORY: Positive for diabetes and hypertension.", [("diabetes", D, "fam"), ("hypertension", D, "fam")]),
    ("Family history: Diabetes in mother.", [("Diabetes", D, "fam")]),
    ("Family History: Mother with HTN. Social History: Patient smokes, has COPD.", [("HTN", D, "fam"), ("COPD", D, "hist")]),
    ("Mother: breast cancer\nFather: MI\nHe has asthma.", [("breast cancer", D, "fam"), ("MI", D, "fam"), ("asthma", D, "")]),
    ("Family History:\nMother: breast cancer\nPositive for diabetes.", [("breast cancer", D, "fam"), ("diabetes", D, "fam")]),
    # 4. templated negatives
    ("Fever: No\nChest pain: denies\nCough: yes", [("Fever", S, "neg"), ("Chest pain", S, "neg"), ("Cough", S, "")]),
    ("Chest pain: denied\nDyspnea: reports", [("Chest pain", S, "neg"), ("Dyspnea", S, "")]),
    ("Fever - no. Chest pain - yes.", [("Fever", S, "neg"), ("Chest pain", S, "")]),
    ("Fever (-), chills (-), cough (+).", [("Fever", S, "neg"), ("chills", S, "neg"), ("cough", S, "")]),
    ("• Cardiovascular: Denies chest pain.\n• Respiratory: Endorses cough.", [("chest pain", S, "neg"), ("cough", S, "")]),
    ("Cardiovascular: Denies chest pain.", [("chest pain", S, "neg")]),
    ("Chest pain - no radiation to the arm.", [("Chest pain", S, "")]),
    # 5. "not limited to" is no negation
    (
        "Discussed risks including but not limited to bleeding, infection, and nerve damage.",
        [("bleeding", S, ""), ("infection", D, ""), ("nerve damage", D, "")],
    ),
    # 6. historical cues and their end
    ("s/p appendectomy 2010.", [("appendectomy", T, "hist")]),
    ("Status post CABG in 2018.", [("CABG", T, "hist")]),
    ("Previous MI in 2019.", [("MI", D, "hist")]),
    ("Prior MI, now with chest pain.", [("MI", D, "hist"), ("chest pain", S, "")]),
    ("Hx of CVA in 2015, now with new onset left arm weakness.", [("CVA", D, "hist"), ("left arm weakness", S, "")]),
    ("Prior history of DVT, currently on warfarin.", [("DVT", D, "hist"), ("warfarin", M, "")]),
    ("Chest pain prior to admission.", [("Chest pain", S, "")]),
    ("She is not currently taking aspirin.", [("aspirin", M, "neg")]),
    ("No fever today or chills.", [("fever", S, "neg"), ("chills", S, "neg")]),
    # 7. "to evaluate his X" is no uncertainty; "to rule out X" is
    ("I ordered an echocardiogram to evaluate his murmur.", [("echocardiogram", X, ""), ("murmur", S, "")]),
    ("Echo to evaluate the murmur.", [("Echo", X, ""), ("murmur", S, "")]),
    ("CT chest to rule out PE.", [("CT chest", X, ""), ("PE", D, "unc")]),
    ("CT to evaluate for PE.", [("CT", X, ""), ("PE", D, "unc")]),
    ("Rule out PE.", [("PE", D, "unc")]),
    ("Will obtain CT to r/o appendicitis.", [("CT", X, ""), ("appendicitis", D, "unc")]),
    # 8. "likely secondary to X"
    ("Cough, likely secondary to GERD.", [("Cough", S, ""), ("GERD", D, "unc")]),
    ("Symptoms most likely secondary to viral infection.", [("viral infection", D, "unc")]),
    ("Chest pain, possibly due to costochondritis.", [("Chest pain", S, ""), ("costochondritis", D, "unc")]),
    ("Anemia secondary to chronic kidney disease.", [("Anemia", D, ""), ("chronic kidney disease", D, "")]),
    # 9. hypothetical: "if" + subject + verb and return/call/seek + filler words are one cue
    ("Call your doctor if you have a fever over 101.", [("fever", S, "hyp")]),
    ("Patient was advised to seek care if she develops rash.", [("rash", S, "hyp")]),
    ("Call if she develops a rash.", [("rash", S, "hyp")]),
    ("If you have chest pain, call 911.", [("chest pain", S, "hyp")]),
    ("Should he experience dizziness, stop the medication.", [("dizziness", S, "hyp")]),
    ("Call the office for worsening pain or bleeding.", [("pain", S, "hyp"), ("bleeding", S, "hyp")]),
    ("Seek medical attention for worsening headache.", [("headache", S, "hyp")]),
    ("Return precautions given for fever, vomiting.", [("fever", S, "hyp"), ("vomiting", S, "hyp")]),
    ("She called the office for chest pain.", [("chest pain", S, "")]),
    ("He has a cough and will return for follow-up.", [("cough", S, "")]),
    # 10. uncertainty voiced by the clinician ("think" alone is no cue)
    ("I suspect she had an anxiety attack.", [("anxiety attack", D, "unc")]),
    ("I am concerned that he has pneumonia.", [("pneumonia", D, "unc")]),
    ("I think he has a viral infection.", [("viral infection", D, "unc")]),
    ("I think the cough is better.", [("cough", S, "")]),
    ("I think about my chest pain all day.", [("chest pain", S, "")]),
    # 11. a cue label keeps its list ("Denies: ...", "Negative for:" on its own line)
    ("Denies: fever, chills, night sweats.", [("fever", S, "neg"), ("chills", S, "neg"), ("night sweats", S, "neg")]),
    ("Negative: fever, chills. Positive: cough.", [("fever", S, "neg"), ("chills", S, "neg"), ("cough", S, "")]),
    ("Positive: cough. Negative: fever, chills.", [("cough", S, ""), ("fever", S, "neg"), ("chills", S, "neg")]),
    ("Negative for:\nfever\nchills\nPositive for:\ncough", [("fever", S, "neg"), ("chills", S, "neg"), ("cough", S, "")]),
    # 12. spouses are relatives
    ("Her husband has COVID; she has a cough.", [("COVID", D, "fam"), ("cough", S, "")]),
    ("His wife was recently diagnosed with influenza.", [("influenza", D, "fam")]),
    ("Her husband is at the bedside; she reports nausea.", [("nausea", S, "")]),
    # 13. "is/was unlikely" negates (medspaCy/NegEx), "was suspected" stays uncertain
    ("PE is unlikely.", [("PE", D, "neg")]),
    ("Infection was felt unlikely.", [("Infection", D, "neg")]),
    ("Pneumonia was unlikely given the clear chest x-ray.", [("Pneumonia", D, "neg")]),
    ("PE was suspected.", [("PE", D, "unc")]),
]


@pytest.fixture(scope="module")
def nlp():
    nlp = clinical_blank()
    nlp.add_pipe("clinical_sentencizer")
    nlp.add_pipe("clinical_sectionizer")
    nlp.add_pipe("clinical_context")
    return nlp


def _annotate(nlp, text, ents):
    doc = nlp.make_doc(text)
    spans, pos = [], {}
    for ent_text, label, _ in ents:
        m = re.compile(r"(?<![A-Za-z])" + re.escape(ent_text) + r"(?![A-Za-z])").search(text, pos.get(ent_text, 0))
        assert m, (ent_text, text)
        pos[ent_text] = m.start() + 1
        span = doc.char_span(m.start(), m.end(), label=label)
        assert span is not None, (ent_text, text)
        spans.append(span)
    doc.ents = spans
    for _, proc in nlp.pipeline:
        doc = proc(doc)
    return doc, spans


@pytest.mark.parametrize("text,ents", CASES, ids=[c[0][:50] for c in CASES])
def test_context_on_note_text(nlp, text, ents):
    doc, spans = _annotate(nlp, text, ents)
    for (ent_text, _, expected), span in zip(ents, spans):
        ent = doc.char_span(span.start_char, span.end_char)
        got = {short for short, attr in ATTRS.items() if getattr(ent._, attr)}
        assert got == set(expected.split()), (ent_text, sorted(got), [c["text"] for c in ent._.context_cues])


@pytest.mark.parametrize(
    "text,sentences",
    [
        ("No. 2 chest tube placed. Fig. 3 shows it.", ["No. 2 chest tube placed.", "Fig. 3 shows it."]),
        ("Fever: no. Chest pain: yes.", ["Fever: no.", "Chest pain: yes."]),
        ("Dr. Smith saw pt. Has cough.", ["Dr. Smith saw pt.", "Has cough."]),
        ("Seen with e.g. no fever.", ["Seen with e.g. no fever."]),
        ("Problems:\n# HTN\n# DM2", ["Problems:", "# HTN", "# DM2"]),
        ("Denies: fever, chills.", ["Denies: fever, chills."]),
        ("Negative for:\nfever\nchills\nPositive for:\ncough", ["Negative for:\nfever\nchills", "Positive for:\ncough"]),
        ("Review of systems:\nfever", ["Review of systems:", "fever"]),
        ("Family history: Mother with HTN.", ["Family history:", "Mother with HTN."]),
        # two spaces after the full stop (typed notes): the extra space is a token of its own
        ("Seen for a rash.  She had a stent in 2010.  Dr. Lee  agrees.", ["Seen for a rash.", "She had a stent in 2010.", "Dr. Lee  agrees."]),
        ("Knee pain?  No swelling.", ["Knee pain?", "No swelling."]),
    ],
)
def test_note_sentence_ends(nlp, text, sentences):
    doc = nlp.get_pipe("clinical_sentencizer")(nlp.make_doc(text))
    assert [s.text.strip() for s in doc.sents] == sentences


def test_relative_label_is_not_blocked_for_the_ner():
    """A relative as a one-line label ("Mother: breast cancer") opens a family line, but stays open to
    the NER (an entity, Subject, that relations attach to); its colon is blocked like any label's."""
    nlp = clinical_blank()
    nlp.add_pipe("clinical_sectionizer")
    doc = nlp("Mother: breast cancer\nFather: MI")
    assert [s["category"] for s in doc._.clinical_sections] == ["family_history", "family_history"]
    blocked = [t.text for t in doc if t.ent_iob_ and not t.ent_type_]
    assert "Mother" not in blocked and "Father" not in blocked
