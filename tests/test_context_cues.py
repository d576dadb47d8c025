"""ConText cue families for hypothetical, historical and negated findings (issue 18).

Every sentence here is written for these tests (discharge-instruction and history phrasing of the
kind ConText's lexicon, the i2b2 2010 assertion guideline and NegEx's trigger lists describe); none
comes from the NegEx/ConText test kit, which is only measured (benchmarks/negex_eval.py).
"""

import re

import pytest

from spacy_clinical_ner.context.component import ClinicalContext
from spacy_clinical_ner.sentences import clinical_sentence_starts
from spacy_clinical_ner.tokenizer import clinical_blank

S, D, M, T = "Sign_symptom", "Disease_disorder", "Medication", "Therapeutic_procedure"
ATTRS = {"neg": "is_negated", "unc": "is_uncertain", "hist": "is_historical", "hyp": "is_hypothetical", "fam": "is_family"}


@pytest.fixture(scope="module")
def nlp():
    nlp = clinical_blank()
    nlp.add_pipe("clinical_sectionizer")
    nlp.add_pipe("clinical_sentencizer")
    nlp.add_pipe("clinical_context")
    return nlp


def annotate(nlp, text, ents):
    """Place the entities (text, label, expected) in order of occurrence and run the pipeline."""
    doc = nlp.make_doc(text)
    spans, pos = [], 0
    for ent_text, label, _ in ents:
        m = re.compile(r"(?<![A-Za-z])" + re.escape(ent_text) + r"(?![A-Za-z])").search(text, pos)
        assert m, (ent_text, text)
        pos = m.start() + 1
        span = doc.char_span(m.start(), m.end(), label=label)
        assert span is not None, (ent_text, text)
        spans.append(span)
    doc.ents = spans
    for _, proc in nlp.pipeline:
        doc = proc(doc)
    return doc, spans


def check(nlp, text, ents):
    doc, spans = annotate(nlp, text, ents)
    for (ent_text, _, expected), span in zip(ents, spans, strict=True):
        ent = doc.char_span(span.start_char, span.end_char)
        got = {short for short, attr in ATTRS.items() if getattr(ent._, attr)}
        assert got == set(expected.split()), (ent_text, sorted(got), [c["rule"] for c in ent._.context_cues])


def only(nlp, text, ent_text, label, expected):
    """The finding as the only entity of the text (how ConText papers score)."""
    check(nlp, text, [(ent_text, label, expected)])


# --------------------------------------------------------------------------- hypothetical
RETURN_PRECAUTIONS = [
    # instruction verb + fillers + if/for, and a long coordinated list after it
    ("Go back to the emergency department if you notice chills, a spreading rash, swelling of the leg or black stools.", "black stools"),
    ("Please contact your surgeon for any wound drainage, increasing warmth, fevers, nausea, vomiting or calf pain.", "calf pain"),
    ("Notify the clinic promptly if she gets short of breath, light-headed, confused or has palpitations.", "palpitations"),
    # double spaces inside the sentence (text pasted from forms)
    ("Seek medical care for temperature above 38.5,  worsening cough,  coughing blood,  or chest tightness.", "chest tightness"),
    ("Return precautions reviewed for headache,  vision change  and weakness.", "weakness"),
    ("Patient instructed to come back with any recurrent bleeding, dizziness or fainting.", "fainting"),
    ("Tell your doctor right away if you develop yellow skin, dark urine or itching.", "itching"),
    # reported speech: past tense after "if" is still a condition
    ("She was told to return to the ED if she had any further abdominal pain, diarrhea or blood in the stool.", "blood in the stool"),
    ("He was advised to call if he developed jaw pain or sweating.", "sweating"),
    # "notify / tell ... of / about any" (session 15)
    ("Notify your surgeon of any new numbness or tingling in the fingers.", "tingling"),
    ("Tell the nurse about any worsening shortness of breath.", "shortness of breath"),
    # a lead-in with a colon in mid-line is a condition with its list, not a title
    ("Please come back right away for any of the following: fever, chills, or increasing redness.", "chills"),
    ("Call your doctor if you have: a fever, worsening swelling or pus.", "pus"),
    # advice to come back with what may come
    ("She was instructed to return to the clinic with any drainage, redness or fever.", "fever"),
    ("He was advised to come back with new chest pain or shortness of breath.", "shortness of breath"),
    # "notify MD of" without "any"; "report any"; an instruction lead-in ending in "for:" (session 16)
    ("Alert the on-call physician of a temperature over 38, rigors or confusion.", "confusion"),
    ("The mother was asked to report any further episodes of apnea.", "apnea"),
    ("Return to the emergency room for: severe headache, stiff neck or rash.", "stiff neck"),
]


@pytest.mark.parametrize("text,finding", RETURN_PRECAUTIONS, ids=[t[:40] for t, _ in RETURN_PRECAUTIONS])
def test_return_precautions_reach_the_end_of_a_long_list(nlp, text, finding):
    only(nlp, text, finding, S, "hyp")


CONDITIONS = [
    # "if" clause before / after the finding, "should X develop", "in case of", "in the event of"
    ("If the swelling in her ankles gets worse, she should increase the diuretic.", "swelling", "hyp"),
    ("We would repeat the scan if the nodule grows.", "nodule", "hyp"),
    ("Should numbness or tingling develop, stop the medication.", "tingling", "hyp"),
    ("Should she become febrile again, blood cultures will be drawn.", "febrile", "hyp"),
    ("In case of heavy bleeding, apply pressure and call 911.", "heavy bleeding", "hyp"),
    ("In the event of an allergic reaction, use the epinephrine pen.", "allergic reaction", "hyp"),
    ("At the first sign of infection he will start the antibiotic.", "infection", "hyp"),
    # the cue after the list
    ("Increasing pain, redness or drainage at the incision: return to clinic if any of these occur.", "drainage", "hyp"),
    ("Fevers, rigors and confusion, should these develop, need urgent review.", "rigors", "hyp"),
    ("Chest pain, fainting or racing heart, call us for any of the above.", "fainting", "hyp"),
    ("A low blood sugar, if present, is treated with juice.", "low blood sugar", "hyp"),
    ("Vomiting or a stiff neck -- come back at once.", "stiff neck", "hyp"),
    # the finding ends inside the cue ("if [worse]", "if her [symptoms] recur")
    ("Go to the ED if worse.", "worse", "hyp"),
    ("See your GP sooner if symptoms return.", "symptoms", "hyp"),
    # plans and possible futures
    ("She may need a pacemaker in the future.", "pacemaker", "hyp"),
    ("Plan for possible cholecystectomy next month.", "cholecystectomy", "hyp"),
    # as-needed medication: the indication
    ("Oxycodone 5 mg every 4 hours prn severe pain.", "severe pain", "hyp"),
    # taught what to look for
    ("She was taught the warning signs of stroke, including facial droop, arm weakness and slurred speech.", "slurred speech", "hyp"),
    ("Parents told to monitor for poor feeding, lethargy or a bulging fontanelle.", "bulging fontanelle", "hyp"),
]


@pytest.mark.parametrize("text,finding,expected", CONDITIONS, ids=[t[:40] for t, _, _ in CONDITIONS])
def test_conditional_cues(nlp, text, finding, expected):
    only(nlp, text, finding, S, expected)


NOT_HYPOTHETICAL = [
    # "if" that asks or doubts ("unclear if", "to see if") is no condition
    ("It is unclear if she lost consciousness.", "lost consciousness"),
    ("The family asked if the tremor is inherited.", "tremor"),
    ("He was not certain if the numbness had spread.", "numbness"),
    # facts: past events, the verb in the past tense, an allergy list
    ("He came to the clinic for a painful knee.", "painful knee"),
    ("He returned to the ER with fever and chills.", "chills"),
    ("She returned to the ward with hypotension.", "hypotension"),
    ("ALLERGIES: Sulfa (hives).", "hives"),
]


@pytest.mark.parametrize("text,finding", NOT_HYPOTHETICAL, ids=[t[:40] for t, _ in NOT_HYPOTHETICAL])
def test_not_hypothetical(nlp, text, finding):
    doc, spans = annotate(nlp, text, [(finding, S, "")])
    ent = doc.char_span(spans[0].start_char, spans[0].end_char)
    assert not ent._.is_hypothetical, [c["rule"] for c in ent._.context_cues]


def test_a_condition_ends_at_current_facts_and_new_instructions(nlp):
    check(
        nlp,
        "Call for fever or vomiting, otherwise follow up for the hypertension in two weeks.",
        [("fever", S, "hyp"), ("vomiting", S, "hyp"), ("hypertension", D, "")],
    )
    check(
        nlp,
        "Return if the headache recurs; she currently has neck stiffness.",
        [("headache", S, "hyp"), ("neck stiffness", S, "")],
    )
    check(nlp, "Return if the rash spreads. The cough is improving.", [("rash", S, "hyp"), ("cough", S, "")])


def test_conditional_list_across_lines(nlp):
    text = "Call your doctor if you have:\n- fever over 38\n- chills\n- redness around the line\n\nDiabetes: check sugars twice daily."
    check(nlp, text, [("fever", S, "hyp"), ("chills", S, "hyp"), ("redness", S, "hyp"), ("Diabetes", D, "")])
    text = "Come back for any of the following:\n1. fainting\n2. weakness.\nAsthma: continue the inhaler."
    check(nlp, text, [("fainting", S, "hyp"), ("weakness", S, "hyp"), ("Asthma", D, "")])


def test_wrapped_lines_stay_in_the_condition(nlp):
    check(nlp, "Call if you notice swelling,\nRedness or\nWarmth of the calf.", [("swelling", S, "hyp"), ("Warmth", S, "hyp")])


def test_conditional_lead_in_keeps_its_items_in_one_sentence():
    nlp = clinical_blank()
    doc = nlp.make_doc("Return if:\n- fever\n- chills\n\nDiet: regular.")
    starts = clinical_sentence_starts(doc)
    assert [doc[s].text for s in starts] == ["Return", "Diet", "regular"]
    # a plain label still splits its lines
    doc = nlp.make_doc("Medications:\n- aspirin\n- metoprolol")
    assert len(clinical_sentence_starts(doc)) == 3
    # in mid-line too: the condition keeps its list; a title still splits
    doc = nlp.make_doc("Return for any of the following: fever, chills.")
    assert len(clinical_sentence_starts(doc)) == 1
    doc = nlp.make_doc("Chief complaint: fever and chills.")
    assert [doc[s].text for s in clinical_sentence_starts(doc)] == ["Chief", "fever"]


# --------------------------------------------------------------------------- historical
HISTORICAL = [
    # "history of" with a long list, up to the clause that brings the present
    (
        "A 70-year-old woman with a history of atrial fibrillation, heart failure, gout, anemia, osteoporosis and glaucoma who presents with dyspnea.",
        "glaucoma",
        D,
        "hist",
    ),
    (
        "A 70-year-old woman with a history of atrial fibrillation, heart failure, gout, anemia, osteoporosis and glaucoma who presents with dyspnea.",
        "dyspnea",
        S,
        "",
    ),
    # previous / prior / old / remote / former, earlier episodes
    ("An old lacunar infarct is seen in the left thalamus.", "lacunar infarct", D, "hist"),
    ("He reports two prior episodes of renal colic.", "renal colic", S, "hist"),
    # dated and distant past
    ("She had rheumatic fever as a child.", "rheumatic fever", D, "hist"),
    ("He was treated for tuberculosis in 2004.", "tuberculosis", D, "hist"),
    ("Her gallbladder was removed 6 months ago.", "gallbladder was removed", T, "hist"),
    ("He has had psoriasis for many years.", "psoriasis", D, "hist"),
    ("She had a similar flare of colitis last year.", "colitis", D, "hist"),
    ("In the past she has had kidney stones.", "kidney stones", D, "hist"),
    # a known, long-standing condition
    ("Patient with known sickle cell disease.", "sickle cell disease", D, "hist"),
    ("Longstanding hypothyroidism on levothyroxine.", "hypothyroidism", D, "hist"),
    # the identification line names the background conditions
    ("This is a 58-year-old man with cirrhosis who presents with confusion.", "cirrhosis", D, "hist"),
    ("This is a 58-year-old man with cirrhosis who presents with confusion.", "confusion", S, ""),
]


NOT_HISTORICAL = [
    # the duration of the present illness is no past history
    ("She presents with a 4-day history of productive cough.", "productive cough"),
    ("He gives a two week history of dysuria.", "dysuria"),
    ("History of present illness: intermittent palpitations since this morning.", "intermittent palpitations"),
    # the current-state words end a history
    ("History of asthma, now with lobar pneumonia.", "lobar pneumonia"),
    ("Prior stroke, currently with new facial droop.", "facial droop"),
    ("Known migraine, presenting with the worst headache of her life.", "worst headache of her life"),
]


@pytest.mark.parametrize("text,finding", NOT_HISTORICAL, ids=[t[:40] for t, _ in NOT_HISTORICAL])
def test_not_historical(nlp, text, finding):
    only(nlp, text, finding, S, "")


# past procedures, resolved problems, allergy lists, PMH abbreviations (issue 18, second round)
PAST_EVENTS = [
    # a procedure the patient underwent / had / has had is part of the history
    ("He underwent a laminectomy at another hospital.", "laminectomy", T, "hist"),
    ("She had a hysterectomy for fibroids.", "hysterectomy", T, "hist"),
    ("The patient has had cataract surgery on both eyes.", "cataract surgery", T, "hist"),
    # ... but a condition after "had" is not made historical by the verb alone
    ("She had a headache this morning.", "headache", S, ""),
    # "had" of a negation cue stays the negation's ("never had a transfusion")
    ("He never had a blood transfusion.", "blood transfusion", T, "neg"),
    # a denied history is an absent problem, not a historical one (i2b2 2010: absent)
    ("The patient denies any history of asthma or eczema.", "eczema", D, "neg"),
    ("She denies a personal history of skin cancer.", "skin cancer", D, "neg"),
    ("He denies previous knee surgeries.", "knee surgeries", T, "neg"),
    ("The patient does not have a history of stroke.", "stroke", D, "neg"),
    ("Without any history of seizures.", "seizures", D, "neg"),
    # a problem that resolved is absent now and part of the history
    ("His wrist swelling has resolved.", "wrist swelling", S, "neg hist"),
    ("The cough resolved after a week of antibiotics.", "cough", S, "neg hist"),
    ("She no longer has night sweats.", "night sweats", S, "neg hist"),
    # ... but a problem that resolves each time (habit) or is resolving (improving) is still there
    ("Her ankle swelling resolves by the next morning.", "ankle swelling", S, ""),
    ("The rash is resolving with the cream.", "rash", S, ""),
    # a drug that was stopped is no longer taken and is part of the history; a refused one only absent
    ("He stopped the atorvastatin because of muscle aches.", "atorvastatin", M, "neg hist"),
    # "has stopped" is active: its object follows ("has been stopped" is the passive, looking back)
    ("She has stopped taking the naproxen.", "naproxen", M, "neg hist"),
    ("The naproxen has been stopped.", "naproxen", M, "neg"),
    ("She refused the flu vaccine.", "flu vaccine", M, "neg"),
    # a test done before is part of the history ("previous MRI"); early life is the distant past
    ("A previous MRI of the knee was normal.", "MRI", "Diagnostic_procedure", "hist"),
    ("She had a heart murmur as a baby.", "heart murmur", S, "hist"),
    # PMH / PSH written inline
    ("PMH significant for sarcoidosis and gout.", "sarcoidosis", D, "hist"),
    ("PSH includes appendectomy.", "appendectomy", T, "hist"),
    # current-state words end a history scope
    ("History of shingles, still complains of burning pain.", "burning pain", S, ""),
    ("History of eczema, c/o new itchy rash.", "itchy rash", S, ""),
]


# a habitual past state and a stage of life the patient has passed (issue 18, third round)
PAST_STATES = [
    ("He used to have frequent nosebleeds as a teenager.", "nosebleeds", S, "hist"),
    ("She used to get cluster headaches but none this year.", "cluster headaches", S, "hist"),
    ("He used to smoke cigarettes.", "cigarettes", M, "hist"),
    # "used to" + a verb of purpose is no past state
    ("Ondansetron is used to treat nausea.", "nausea", S, ""),
    ("She was told she had a hole in the heart when she was a baby.", "hole in the heart", D, "hist"),
    ("He had recurrent ear infections when he was a child.", "ear infections", D, "hist"),
    ("He had a hernia repair at 2 months of age.", "hernia repair", T, "hist"),
    # no past-state cue: present
    ("Now reports wheezing for two days.", "wheezing", S, ""),
]


# a past event dated by a time anchor: a stage of life, last month, an earlier admission or pregnancy;
# the anchor reaches back over the clause's own verb ("was diagnosed", "developed") like "years ago" does
DATED_EVENTS = [
    ("Her asthma was diagnosed in childhood.", "asthma", D, "hist"),
    ("He passed a kidney stone last month.", "kidney stone", D, "hist"),
    ("She developed a DVT during her last admission.", "DVT", D, "hist"),
    ("He had gestational diabetes in a previous pregnancy.", "gestational diabetes", D, "hist"),
    # an ongoing period is not a past event; a current-state word still ends the scope
    ("Her fatigue has worsened over the past month.", "fatigue", S, ""),
    ("Admitted last month for pneumonia, now presents with a new rash.", "rash", S, ""),
    # a relative's age dates the relative's illness, not the patient's past; a baby aspirin is no stage of life
    ("Her mother was diagnosed with breast cancer at age 45.", "breast cancer", D, "fam"),
    ("He is on lisinopril as well as a baby aspirin daily.", "lisinopril", M, ""),
]


# past-history titles written inline, the finding after them historical
PAST_HISTORY_TITLES = [
    ("Past Medical Problems: seizure disorder.", "seizure disorder", D, "hist"),
    ("Prior medical history: stroke.", "stroke", D, "hist"),
    ("PAST MEDICAL HISTORY/PAST SURGICAL HISTORY: Hypertension.", "Hypertension", D, "hist"),
]


# a history cue reaches every item of the list it opens, when only one item is an entity (issue 18, list scopes)
HISTORY_LISTS = [
    ("He has a history of coronary artery disease, hypertension, and diabetes mellitus.", "diabetes mellitus", D, "hist"),
    ("She has a history of depression and a seizure disorder.", "seizure disorder", D, "hist"),
    ("Past medical history includes mild asthma, hypertension, and a mild stroke.", "stroke", D, "hist"),
    ("PMH significant for obesity, sleep apnea, and severe osteoarthritis of both knees.", "osteoarthritis", D, "hist"),
    # a new clause after the list ends it: a subject pronoun or a finite verb after "and"
    ("He has a history of asthma, and he has a cough today.", "cough", S, ""),
    ("She has a history of migraine and she reports nausea.", "nausea", S, ""),
    ("History of gout and was seen for a swollen ankle.", "swollen ankle", S, ""),
]


#: every historical cue family above: (text, finding, label, expected), the finding as the only entity
HISTORY_FAMILIES = {
    "history": HISTORICAL,
    "past_event": PAST_EVENTS,
    "past_state": PAST_STATES,
    "dated": DATED_EVENTS,
    "title": PAST_HISTORY_TITLES,
    "list": HISTORY_LISTS,
}


@pytest.mark.parametrize(
    "text,finding,label,expected",
    [pytest.param(*case, id=f"{family}-{case[0][:30]}-{case[1]}") for family, cases in HISTORY_FAMILIES.items() for case in cases],
)
def test_history_cue_families(nlp, text, finding, label, expected):
    only(nlp, text, finding, label, expected)


def test_list_items_still_end_a_negation_scope_at_the_same_places(nlp):
    # the list-item boundaries are clause boundaries for every rule without through_lists
    only(nlp, "No chest pain, and a productive cough since Monday.", "productive cough", S, "")
    only(nlp, "Denies fever and a rash was noted on the arm.", "rash", S, "")


def test_past_state_cue_is_recorded(nlp):
    doc, _ = annotate(nlp, "She used to have migraines.", [("migraines", D, "hist")])
    cue = doc.ents[0]._.context_cues[0]
    assert (cue["text"], cue["rule"], cue["attribute"]) == ("used to have", "used to have", "is_historical")


def test_allergy_section_entries_are_historical(nlp):
    text = "ALLERGIES: Sulfa drugs cause hives.\nPLAN: Start amoxicillin."
    check(nlp, text, [("Sulfa drugs", M, "hist"), ("hives", S, "hist"), ("amoxicillin", M, "")])


# --------------------------------------------------------------------------- ongoing problems in a history list
def test_a_history_list_problem_managed_now_is_present(nlp):
    # "history of" names diabetes and gout; diabetes comes back as a current problem, gout does not
    text = (
        "HISTORY OF PRESENT ILLNESS: She has a history of type 2 diabetes and gout.\n"
        "ASSESSMENT AND PLAN: Diabetes: continue metformin."
    )
    check(nlp, text, [("type 2 diabetes", D, ""), ("gout", D, "hist"), ("Diabetes", D, ""), ("metformin", M, "")])


def test_a_past_medical_history_entry_without_a_current_mention_stays_historical(nlp):
    text = "PAST MEDICAL HISTORY: Hypertension. Kidney stones.\nASSESSMENT: Hypertension, controlled on lisinopril."
    check(nlp, text, [("Hypertension", D, ""), ("Kidney stones", D, "hist"), ("Hypertension", D, ""), ("lisinopril", M, "")])


def test_a_chronic_symptom_in_the_history_managed_now_is_present(nlp):
    text = "PAST MEDICAL HISTORY: Chronic back pain. Migraines.\nASSESSMENT: Back pain, better with physical therapy."
    check(nlp, text, [("back pain", S, ""), ("Migraines", S, "hist"), ("Back pain", S, ""), ("physical therapy", T, "")])


def test_only_a_plain_current_mention_makes_it_ongoing(nlp):
    # the later mention is negated / a past episode, so the history entry keeps its status
    text = "He has a history of pancreatitis. No pancreatitis since 2019."
    check(nlp, text, [("pancreatitis", D, "hist"), ("pancreatitis", D, "neg hist")])
    # a dated past episode is not a history-list cue: a current mention does not undo it
    text = "She had shingles in 2015. Shingles is back on her left flank."
    check(nlp, text, [("shingles", D, "hist"), ("Shingles", D, "")])


def test_ongoing_labels_can_be_switched_off():
    nlp = clinical_blank()
    nlp.add_pipe("clinical_sentencizer")
    nlp.add_pipe("clinical_context", config={"ongoing_labels": []})
    text = "History of asthma. Asthma is well controlled."
    doc = nlp.make_doc(text)
    doc.ents = [doc.char_span(11, 17, label=D), doc.char_span(19, 25, label=D)]
    for _, proc in nlp.pipeline:
        doc = proc(doc)
    assert doc.ents[0]._.is_historical and not doc.ents[1]._.is_historical


def test_denied_history_can_be_switched_off():
    nlp = clinical_blank()
    nlp.add_pipe("clinical_sentencizer")
    nlp.add_pipe("clinical_context", config={"denied_history": False})
    doc = nlp.make_doc("She denies any history of seizures.")
    doc.ents = [doc.char_span(26, 34, label=D)]
    for _, proc in nlp.pipeline:
        doc = proc(doc)
    assert doc.ents[0]._.is_negated and doc.ents[0]._.is_historical


def test_ongoing_problem_matching():
    from spacy_clinical_ner.context.component import _same_problem

    assert _same_problem(("diabete",), ("type", "2", "diabete"))
    assert _same_problem(("kidney", "stone"), ("kidney", "stone"))
    assert not _same_problem(("lung", "cancer"), ("breast", "cancer"))
    assert not _same_problem((), ("gout",))


# --------------------------------------------------------------------------- negation
def test_a_cue_inside_the_finding_is_part_of_its_name(nlp):
    only(nlp, "Chest pain without radiation to the arm since noon.", "Chest pain without radiation to the arm", S, "")
    only(nlp, "Seizure with no loss of consciousness for two minutes.", "Seizure with no loss of consciousness", S, "")
    # after auxiliaries only, the cue still opens the finding
    only(nlp, "The angiogram did not show a dissection.", "did not show a dissection", S, "neg")


def test_a_cue_inside_the_finding_counts_without_trim_cues():
    nlp = clinical_blank()
    nlp.add_pipe("clinical_sentencizer")
    nlp.add_pipe("clinical_context", config={"trim_cues": False})
    doc = nlp.make_doc("Chest pain without radiation.")
    doc.ents = [doc.char_span(0, len("Chest pain without radiation"), label=S)]
    for _, proc in nlp.pipeline:
        doc = proc(doc)
    assert doc.ents[0]._.is_negated  # medspaCy's behaviour, kept when trim_cues is off


def test_nor_reaches_a_long_list(nlp):
    only(nlp, "She has had neither fever nor chills, night sweats, weight loss, anorexia or pruritus.", "pruritus", S, "neg")


# --------------------------------------------------------------------------- cue provenance and saving
def test_deciding_cue_is_recorded_and_rules_round_trip(nlp, tmp_path):
    text = "Call your nurse for any bleeding, bruising or nosebleeds."
    doc, _ = annotate(nlp, text, [("nosebleeds", S, "hyp")])
    cues = doc.ents[0]._.context_cues
    assert cues and cues[0]["category"] == "HYPOTHETICAL" and cues[0]["rule"] == "call for"
    assert text[cues[0]["start"] : cues[0]["end"]].lower() == "call your nurse for"
    ctx = nlp.get_pipe("clinical_context")
    ctx.to_disk(tmp_path / "ctx")
    other = clinical_blank()
    loaded = other.add_pipe("clinical_context", config={"rules": None}).from_disk(tmp_path / "ctx")
    assert isinstance(loaded, ClinicalContext)
    assert [r.to_dict() for r in loaded.rules] == [r.to_dict() for r in ctx.rules]
