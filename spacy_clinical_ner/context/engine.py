"""The ConText algorithm (Harkema et al. 2009) with medspaCy's semantics, on plain data.

This re-implements what ``medspacy.context.ConText`` does – match modifiers, give each
a scope inside its sentence in its direction, let modifiers of the same category,
``TERMINATE`` modifiers and ``terminated_by`` categories cut each other's scopes, and
link every target that overlaps a scope – with three differences that matter here:

* the result is plain data (rule index, token offsets), never a Python object stored on
  the Doc, so the component's output survives ``DocBin`` and multiprocessing;
* scopes are limited per sentence, so the pairwise scope limiting is linear in the number
  of sentences instead of quadratic in the number of modifiers of the whole note;
* a global ``max_scope`` caps scopes *inside* the sentence (medspaCy swaps the sentence
  for a window that may cross it).

With the same rules, sentence boundaries and no global ``max_scope`` the edges are the
ones medspaCy finds (``tests/test_context.py`` checks this on medspaCy's own rules).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from typing import Callable, Dict, FrozenSet, Iterable, List, Sequence, Tuple

from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc, Span  # noqa: F401
from spacy.vocab import Vocab

from .rules import ContextRule


class Modifier:
    """A matched cue: the rule that matched, its tokens and its (limited) scope."""

    __slots__ = ("rule_id", "rule", "start", "end", "scope_start", "scope_end", "sent", "targets")

    def __init__(self, rule_id: int, rule: ContextRule, start: int, end: int, sent: int, scope: Tuple[int, int]):
        self.rule_id = rule_id
        self.rule = rule
        self.start = start
        self.end = end
        self.sent = sent
        self.scope_start, self.scope_end = scope
        self.targets: List[int] = []

    def __repr__(self) -> str:
        return f"Modifier({self.rule.literal!r}, {self.start}-{self.end}, scope={self.scope_start}-{self.scope_end})"


Slot = Tuple[Tuple[Tuple[str, ...], ...], bool]  # (token sequences it accepts, optional)


def compile_lower_pattern(pattern: List[Dict], tokenize: Callable[[str], Doc]) -> List[Slot] | None:
    """Slots of a pattern made only of ``LOWER`` strings / ``IN`` lists (optionally ``OP: "?"``).

    Returns None for any other pattern (those go to spaCy's Matcher). Each accepted
    value is tokenized like the text will be, so a value the tokenizer splits ("h/o",
    "w/o") matches its tokens.
    """
    slots: List[Slot] = []
    for tok in pattern:
        if set(tok) - {"OP"} != {"LOWER"} or tok.get("OP", "?") != "?":
            return None
        value = tok["LOWER"]
        if isinstance(value, str):
            options = [value]
        elif isinstance(value, dict) and set(value) == {"IN"} and all(isinstance(v, str) for v in value["IN"]):
            options = list(value["IN"])
        else:
            return None
        seqs = []
        for option in options:
            if option != option.lower() or not option.strip() or any(c.isspace() for c in option):
                seqs.append(None)  # can never equal one token's LOWER, as in spaCy
                continue
            seqs.append(tuple(t.lower_ for t in tokenize(option) if not t.is_space))
        slots.append((tuple(sorted({q for q in seqs if q})), "OP" in tok))
    return slots if slots else None


class LowerPatternMatcher:
    """All matches of LOWER token patterns with optional slots, like spaCy's Matcher.

    spaCy's Matcher evaluates ``{"IN": [...]}`` predicates in Python for every token and
    pattern; here the words that can open a pattern are indexed, so only the few tokens
    that could start a cue are tried, and each slot is a set lookup.
    """

    def __init__(self) -> None:
        # each slot as {first word: token sequences starting with it}, so a slot with a
        # long ``IN`` list costs one dict lookup per position, not one comparison per word
        self._patterns: List[Tuple[int, List[Tuple[Dict[str, Tuple[Tuple[str, ...], ...]], bool]]]] = []
        self._first: Dict[str, List[int]] = {}
        self._span = 1  # the most tokens one pattern can cover

    def __len__(self) -> int:
        return len(self._patterns)

    def add(self, key: int, slots: List[Slot]) -> None:
        idx = len(self._patterns)
        indexed = []
        for seqs, optional in slots:
            by_first: Dict[str, List[Tuple[str, ...]]] = {}
            for q in seqs:
                by_first.setdefault(q[0], []).append(q)
            indexed.append(({w: tuple(qs) for w, qs in by_first.items()}, optional))
        self._patterns.append((key, indexed))
        self._span = max(self._span, sum(max((len(q) for q in seqs), default=0) for seqs, _ in slots))
        firsts = set()
        for seqs, optional in slots:
            firsts.update(q[0] for q in seqs)
            if not optional:
                break
        for word in firsts:
            self._first.setdefault(word, []).append(idx)

    def __call__(self, doc: Doc) -> List[Tuple[int, int, int]]:
        lowers = [t.lower_ for t in doc]
        n = len(lowers)
        first = self._first
        span = self._span
        out: List[Tuple[int, int, int]] = []
        # what matches at a position depends only on the next ``span`` words: repeated
        # text ("no no no ...", a list pasted 1,000 times) is matched once per distinct window
        seen: Dict[Tuple[str, ...], List[Tuple[int, int]]] = {}
        for i, word in enumerate(lowers):
            cands = first.get(word)
            if not cands:
                continue
            window = tuple(lowers[i : i + span])
            known = seen.get(window)
            if known is not None:
                out.extend((key, i, i + length) for key, length in known)
                continue
            start = len(out)
            for idx in cands:
                key, slots = self._patterns[idx]
                ends = {i}
                for by_first, optional in slots:
                    nxt = set(ends) if optional else set()
                    for j in ends:
                        if j >= n:
                            continue
                        for q in by_first.get(lowers[j], ()):
                            k = j + len(q)
                            if k <= n and (len(q) == 1 or tuple(lowers[j:k]) == q):
                                nxt.add(k)
                    ends = nxt
                    if not ends:
                        break
                out.extend((key, i, e) for e in sorted(ends) if e > i)
            seen[window] = [(key, e - i) for key, _, e in out[start:]]
        return out


def _overlaps(a0: int, a1: int, b0: int, b1: int) -> bool:
    # medspaCy's tuple_overlaps: b starts or ends inside a.
    return a0 <= b0 < a1 or a0 < b1 <= a1


#: Words that may stand before a cue inside a target without making it part of the target's name.
OPENING_WORDS = frozenset("did does do was were is are be been has have had there the a an could can would will may might should".split())


def _opens(target: Span, cue_start: int) -> bool:
    """Only auxiliaries/determiners lie between the target's start and the cue."""
    doc = target.doc
    return all(doc[i].lower_ in OPENING_WORDS for i in range(target.start, cue_start))


def prune_overlapping(matches: List[Tuple[int, int, int]]) -> List[Tuple[int, int, int]]:
    """Keep the longest of overlapping matches (medspaCy's ``prune_overlapping_matches``)."""
    while True:
        if not matches:
            return matches
        unpruned = sorted(matches, key=lambda x: (x[1], x[2]))
        pruned: List[Tuple[int, int, int]] = []
        i = 0
        curr = unpruned[0]
        i = 1
        while True:
            if i >= len(unpruned):
                pruned.append(curr)
                break
            nxt = unpruned[i]
            i += 1
            if _overlaps(curr[1], curr[2], nxt[1], nxt[2]):
                pruned.append(max(curr, nxt, key=lambda x: x[2] - x[1]))
                if i >= len(unpruned):
                    break
                curr = unpruned[i]
                i += 1
            else:
                pruned.append(curr)
                curr = nxt
        if len(pruned) == len(matches):
            return pruned
        matches = pruned


#: Work limits that keep the cost of one sentence linear in its length however many cues it
#: holds ("no no no ... no fever", a 5,000-item list). None of them is reached by real notes
#: (the largest sentence of the test corpora has far fewer modifiers, targets per cue and list
#: items); on text that does reach them the result is what medspaCy's all-pairs algorithm
#: gives wherever a cue's scope is decided by one of its nearer neighbours.
#:
#: * ``MAX_SCOPE_PEERS`` – a modifier's scope is limited by (and limits) the next this many
#:   modifiers of its sentence, not all of them;
#: * ``MAX_CUE_TARGETS`` – a cue modifies at most this many targets, the nearest ones (as a
#:   rule's ``max_targets`` does, which stays the tighter limit where set);
#: * ``MAX_LIST_ITEMS`` – list propagation (``coordination``) carries a cue at most this many
#:   items beyond its scope.
MAX_SCOPE_PEERS = 128
MAX_CUE_TARGETS = 512
MAX_LIST_ITEMS = 256


class ContextEngine:
    """Matches the rules on a Doc and links modifiers to target spans.

    ``rules`` are kept as given (they are what the component saves); global settings
    (``max_scope``, ``max_targets``, ``allowed_types``, ``excluded_types``,
    ``terminating_types``) fill in what a rule leaves unset, as in medspaCy. The work
    limits ``max_scope_peers``, ``max_cue_targets`` and ``max_list_items`` default to the
    module's constants (see there).
    """

    max_scope_peers: int = MAX_SCOPE_PEERS
    max_cue_targets: int = MAX_CUE_TARGETS
    max_list_items: int = MAX_LIST_ITEMS

    def __init__(
        self,
        vocab: Vocab,
        make_doc: Callable[[str], Doc],
        rules: Sequence[ContextRule],
        *,
        phrase_matcher_attr: str = "LOWER",
        prune_on_modifier_overlap: bool = True,
        prune_on_target_overlap: bool = False,
        max_scope: int | None = None,
        max_targets: int | None = None,
        allowed_types: Iterable[str] | None = None,
        excluded_types: Iterable[str] | None = None,
        terminating_types: Dict[str, Iterable[str]] | None = None,
        boundary_categories: Iterable[str] = ("CLAUSE_BOUNDARY", "FAMILY_BOUNDARY"),
        trim_cues: bool = True,
    ):
        self.vocab = vocab
        self.trim_cues = trim_cues
        self.boundary_categories = frozenset(c.upper() for c in boundary_categories)
        self.phrase_matcher_attr = phrase_matcher_attr
        self.prune_on_modifier_overlap = prune_on_modifier_overlap
        self.prune_on_target_overlap = prune_on_target_overlap
        self.max_scope = max_scope
        self.max_targets = max_targets
        self.allowed_types = frozenset(t.upper() for t in allowed_types) if allowed_types is not None else None
        self.excluded_types = frozenset(t.upper() for t in excluded_types) if excluded_types is not None else None
        self.terminating_types = {k.upper(): frozenset(v.upper() for v in vals) for k, vals in (terminating_types or {}).items()}
        self._make_doc = make_doc
        self._tokenize = make_doc
        self.rules: List[ContextRule] = []
        # Effective per-rule settings (globals filled in), parallel to self.rules.
        self._scope: List[int | None] = []
        self._max_targets: List[int | None] = []
        self._allowed: List[FrozenSet[str] | None] = []
        self._excluded: List[FrozenSet[str] | None] = []
        self._terminated_by: List[FrozenSet[str]] = []
        # list-aware scopes: a rule with ``metadata.through_lists`` ("history of A, B, and a C") is not
        # cut by boundary rules with ``metadata.list_coordination`` (", and", "and a": the next list item)
        self._through_lists: List[bool] = []
        self._list_boundary: List[bool] = []
        self._matcher = Matcher(vocab)
        self._phrase_matcher = PhraseMatcher(vocab, attr=phrase_matcher_attr)
        self._lower_matcher = LowerPatternMatcher()
        self._regexes: List[Tuple[int, re.Pattern[str]]] = []
        self._key_to_rule: Dict[int, int] = {}
        self.add(rules)

    def add(self, rules: Iterable[ContextRule]) -> None:
        for rule in rules:
            idx = len(self.rules)
            self.rules.append(rule)
            self._scope.append(rule.max_scope if rule.max_scope is not None else self.max_scope)
            self._max_targets.append(rule.max_targets if rule.max_targets is not None else self.max_targets)
            allowed, excluded = rule.allowed_types, rule.excluded_types
            if allowed is None and excluded is None:
                allowed, excluded = self.allowed_types, self.excluded_types
            self._allowed.append(allowed)
            self._excluded.append(excluded)
            self._terminated_by.append(rule.terminated_by | self.terminating_types.get(rule.category, frozenset()))
            meta = rule.metadata or {}
            self._through_lists.append(bool(meta.get("through_lists")))
            self._list_boundary.append(bool(meta.get("list_coordination")))
            key = f"clinical_context_rule_{idx}"
            self._key_to_rule[self.vocab.strings.add(key)] = idx
            if isinstance(rule.pattern, str):
                self._regexes.append((idx, re.compile(rule.pattern, flags=re.IGNORECASE)))
            elif isinstance(rule.pattern, list):
                slots = compile_lower_pattern(rule.pattern, self._tokenize)
                if slots is None:
                    self._matcher.add(key, [rule.pattern])
                else:
                    self._lower_matcher.add(self.vocab.strings[key], slots)
            elif self.phrase_matcher_attr.upper() == "LOWER":
                words = tuple(t.lower_ for t in self._tokenize(rule.literal.lower()) if not t.is_space)
                if words:
                    self._lower_matcher.add(self.vocab.strings[key], [((words,), False)])
            else:
                self._phrase_matcher.add(key, [self._make_doc(rule.literal)])

    # ------------------------------------------------------------------ matching
    def match(self, doc: Doc) -> List[Tuple[int, int, int]]:
        """(rule index, start, end) of every cue, overlapping ones pruned to the longest."""
        matches: List[Tuple[int, int, int]] = []
        for matcher in (self._matcher, self._phrase_matcher, self._lower_matcher):
            if len(matcher):
                matches += [(self._key_to_rule[k], s, e) for k, s, e in matcher(doc)]
        text = doc.text if self._regexes else ""
        for idx, regex in self._regexes:
            for m in regex.finditer(text):
                span = doc.char_span(m.start(), m.end(), alignment_mode="expand")
                if span is not None and len(span):
                    matches.append((idx, span.start, span.end))
        if self.prune_on_modifier_overlap:
            # Boundary rules (clause ends) only cut scopes; they never compete with cues.
            boundaries = [m for m in matches if self.rules[m[0]].category in self.boundary_categories]
            if boundaries:
                cues = [m for m in matches if self.rules[m[0]].category not in self.boundary_categories]
                matches = prune_overlapping(cues) + prune_overlapping(boundaries)
            else:
                matches = prune_overlapping(matches)
        return sorted(matches, key=lambda x: (x[1], x[2]))

    def allows(self, rule_id: int, label: str) -> bool:
        allowed = self._allowed[rule_id]
        if allowed is not None:
            return label in allowed
        excluded = self._excluded[rule_id]
        if excluded is not None:
            return label not in excluded
        return True

    # ------------------------------------------------------------------ scopes
    def _scope_of(self, rule_id: int, start: int, end: int, sent_start: int, sent_end: int) -> Tuple[int, int]:
        direction = self.rules[rule_id].direction
        max_scope = self._scope[rule_id]
        if direction == "FORWARD":
            s, e = end, sent_end
            if max_scope is not None and e - s > max_scope:
                e = end + max_scope
        elif direction == "BACKWARD":
            s, e = sent_start, start
            if max_scope is not None and e - s > max_scope:
                s = start - max_scope
        else:  # BIDIRECTIONAL, and the scope TERMINATE/PSEUDO modifiers use for overlap checks
            s, e = sent_start, sent_end
            if max_scope is not None:
                s = max(s, start - max_scope)
                e = min(e, end + max_scope)
        return s, e

    def _limit_scope(self, mod: Modifier, other: Modifier) -> None:
        """medspaCy's ``ConTextModifier.limit_scope``: ``other`` may cut ``mod``'s scope."""
        # medspaCy's tuple_overlaps misses a scope that lies inside the other one, so a
        # TERMINATE cue fails to cut a scope shortened by max_scope; intersect properly.
        if not (mod.scope_start < other.scope_end and other.scope_start < mod.scope_end):
            return
        rule, orule = mod.rule, other.rule
        if rule.direction == "TERMINATE":
            return
        if orule.category in self.boundary_categories and other.start < mod.end and mod.start < other.end:
            return  # a clause boundary inside the cue itself ("was" in "was not seen")
        if self._list_boundary[other.rule_id] and self._through_lists[mod.rule_id]:
            return  # the next item of the list the cue introduces ("history of A, B, and a C")
        if orule.direction != "TERMINATE" and orule.category not in self._terminated_by[mod.rule_id] and orule.category != rule.category:
            return
        # Two cues of one category for different target types do not cut each other (medspaCy);
        # a TERMINATE cue ("but", ";") cuts every scope whatever its types. medspaCy applies the type
        # check to TERMINATE cues too, so "but" never cut a negation cue that has excluded_types
        # ("No fever however cough": cough came out negated).
        if (
            orule.direction != "TERMINATE"
            and rule.category == orule.category
            and (self._allowed[mod.rule_id] != self._allowed[other.rule_id] or self._excluded[mod.rule_id] != self._excluded[other.rule_id])
        ):
            return
        if rule.direction in ("FORWARD", "BIDIRECTIONAL") and other.start > mod.start:
            mod.scope_end = min(mod.scope_end, other.start)
        if rule.direction in ("BACKWARD", "BIDIRECTIONAL") and other.end < mod.end:
            mod.scope_start = max(mod.scope_start, other.end)

    def modifiers(self, doc: Doc, sent_starts: Sequence[int], inside_entity: Sequence[bool] | None = None) -> List[Modifier]:
        """Matched modifiers with scopes limited by each other (per sentence).

        ``sent_starts`` is the sorted list of sentence-start token indices (first one 0).
        ``inside_entity`` (one flag per token): boundary matches on these tokens are dropped –
        a word inside an entity ("[decreased urine output]") does not end a clause.
        """
        n = len(doc)
        mods: List[Modifier] = []
        for rule_id, start, end in self.match(doc):
            if (
                inside_entity is not None
                and self.rules[rule_id].category in self.boundary_categories
                and any(inside_entity[i] for i in range(start, end))
            ):
                continue
            k = bisect_right(sent_starts, start) - 1
            sent_start = sent_starts[k]
            sent_end = sent_starts[k + 1] if k + 1 < len(sent_starts) else n
            scope = self._scope_of(rule_id, start, end, sent_start, max(sent_end, end))
            mods.append(Modifier(rule_id, self.rules[rule_id], start, end, k, scope))
        # Modifiers are sorted by start; compare only those of the same sentence, and each
        # only with the next MAX_SCOPE_PEERS ones (all pairs in any sentence of up to
        # MAX_SCOPE_PEERS + 1 modifiers: the limit changes nothing in real text, and keeps
        # "no no no ... no fever" linear).
        window = self.max_scope_peers
        i = 0
        while i < len(mods):
            j = i
            while j < len(mods) and mods[j].sent == mods[i].sent:
                j += 1
            group = mods[i:j]
            backward = [k for k, m in enumerate(group) if m.rule.direction in ("BACKWARD", "BIDIRECTIONAL")]
            for a in range(len(group) - 1):
                mod_a = group[a]
                stop = min(a + 1 + window, len(group))
                b = a + 1
                if mod_a.rule.direction not in ("TERMINATE", "PSEUDO"):
                    # while a later modifier starts inside mod_a's scope (or cue) it may cut it
                    while b < stop and (group[b].start < mod_a.scope_end or group[b].start < mod_a.end):
                        self._limit_scope(mod_a, group[b])
                        self._limit_scope(group[b], mod_a)
                        b += 1
                # beyond that mod_a's scope stays as it is; mod_a can still cut backward scopes
                for k in range(bisect_left(backward, b), bisect_left(backward, stop)):
                    mod_b = group[backward[k]]
                    if mod_b.scope_start < mod_a.end:
                        self._limit_scope(mod_b, mod_a)
            i = j
        return mods

    def link(
        self,
        mods: List[Modifier],
        targets: Sequence[Span],
        sent_starts: Sequence[int],
        coordination: Sequence[bool] | None = None,
    ) -> List[List[Modifier]]:
        """For each target, the modifiers that modify it (after ``max_targets``).

        ``coordination`` (one flag per token: may stand between coordinated targets)
        turns on list propagation: a modifier that reaches one item of a coordinated list
        ("[hypertension], [proteinuria], and hand–foot [syndrome] were not observed")
        reaches the items beyond its scope limit too, as long as only commas,
        conjunctions, parentheticals and other entities lie between them.
        """
        if self.prune_on_target_overlap:
            # a cue overlapping any target is dropped: one sweep over both sorted lists
            spans = sorted((t.start, t.end) for t in targets)
            span_starts = [s for s, _ in spans]
            longest = max((e - s for s, e in spans), default=0)
            kept = []
            for m in mods:
                lo = bisect_left(span_starts, m.start - longest)
                hi = bisect_left(span_starts, m.end)
                if not any(_overlaps(m.start, m.end, s, e) for s, e in spans[lo:hi]):
                    kept.append(m)
            mods = kept
        by_sent: Dict[int, List[Modifier]] = {}
        for m in mods:
            if m.rule.direction not in ("TERMINATE", "PSEUDO") and m.scope_end > m.scope_start:
                by_sent.setdefault(m.sent, []).append(m)
        if not by_sent:
            return [[] for _ in targets]
        # Targets indexed by start and by end: each modifier looks up the targets its scope
        # reaches (start inside the scope, or end inside it) instead of every target
        # looking at every modifier of its sentence.
        first_sent = [bisect_right(sent_starts, t.start) - 1 for t in targets]
        last_sent = [bisect_right(sent_starts, max(t.end - 1, t.start)) - 1 for t in targets]
        labels = [t.label_.upper() for t in targets]
        by_start = sorted(range(len(targets)), key=lambda t: (targets[t].start, t))
        starts = [targets[t].start for t in by_start]
        by_end = sorted(range(len(targets)), key=lambda t: (targets[t].end, t))
        ends = [targets[t].end for t in by_end]
        cap = self.max_cue_targets
        for group in by_sent.values():
            for m in group:
                s0, s1 = m.scope_start, m.scope_end
                # start in [s0, s1) or end in (s0, s1]
                a = by_start[bisect_left(starts, s0) : bisect_left(starts, s1)]
                b = by_end[bisect_right(ends, s0) : bisect_right(ends, s1)]
                if len(a) > cap or len(b) > cap:
                    # a scope over more than ``cap`` targets keeps the nearest ones to its cue
                    if m.rule.direction == "BACKWARD":
                        a, b = a[-cap:], b[-cap:]
                    elif m.rule.direction == "FORWARD":
                        a, b = a[:cap], b[:cap]
                    else:
                        a = a[: cap // 2] + a[-(cap // 2) :]
                        b = b[: cap // 2] + b[-(cap // 2) :]
                found = set(a).union(b)
                # and the targets the cue itself runs into (a trimmed cue: "return if [worse]")
                found.update(by_start[bisect_left(starts, m.start) : bisect_left(starts, m.end)])
                found.update(by_end[bisect_right(ends, m.start) : bisect_right(ends, m.end)])
                found = sorted(found)
                # a forward scope may end one sentence later only when its cue closes the sentence
                for t_idx in found:
                    if not (first_sent[t_idx] - 1 <= m.sent <= last_sent[t_idx]):
                        continue
                    target = targets[t_idx]
                    overlap = _overlaps(m.start, m.end, target.start, target.end)
                    if overlap and not self._trimmed(m, target):
                        continue
                    if self.trim_cues and target.start < m.start and m.end < target.end and not _opens(target, m.start):
                        # a cue strictly inside the target is part of its name ("[chest pain without
                        # radiation]"), not about it; medspaCy's overlap test misses containment and
                        # links it. After auxiliaries only it still opens it ("[did not show X]").
                        continue
                    if not overlap and not _overlaps(s0, s1, target.start, target.end):
                        # (a trimmed cue that runs into the target modifies it even when the target ends
                        # inside the cue, before its scope starts: "return if [worse]", "no [focal]")
                        continue
                    if self.allows(m.rule_id, labels[t_idx]):
                        m.targets.append(t_idx)
        if coordination is not None:
            self._propagate(by_sent, targets, sent_starts, coordination)
        edges: List[List[Modifier]] = [[] for _ in targets]
        for group in by_sent.values():
            for m in group:
                limit = self._max_targets[m.rule_id]
                chosen = m.targets
                if limit is not None and len(chosen) > limit:
                    chosen = sorted(chosen, key=lambda t: min(abs(m.start - targets[t].end), abs(targets[t].start - m.end)))[:limit]
                for t_idx in chosen:
                    edges[t_idx].append(m)
        return edges

    def _trimmed(self, m: Modifier, target: Span) -> bool:
        """A cue whose optional tail runs into the target still modifies it.

        "No focal deficits": the cue "no focal" (``no`` + an optional adjective) overlaps the
        target "focal deficits"; medspaCy drops such pairs, here the cue counts up to where
        the target starts (forward) or from where it ends (backward), if anything is left.
        Likewise a forward cue that opens the entity itself ("[no signs of endocarditis]",
        as some annotation schemes and NER models mark it) modifies it.
        """
        if not self.trim_cues:
            return False
        direction = m.rule.direction
        if direction in ("FORWARD", "BIDIRECTIONAL") and m.start < target.start < m.end:
            return True
        if direction == "FORWARD" and m.start == target.start and m.end < target.end:
            return True  # the entity includes its cue: "[no extra-intestinal manifestations]"
        if direction in ("BACKWARD", "BIDIRECTIONAL") and m.start < target.end < m.end:
            return True
        return False

    def _propagate(
        self, by_sent: Dict[int, List[Modifier]], targets: Sequence[Span], sent_starts: Sequence[int], coord: Sequence[bool]
    ) -> None:
        order = sorted(range(len(targets)), key=lambda t: (targets[t].start, targets[t].end))
        sent_of = {t: bisect_right(sent_starts, targets[t].start) - 1 for t in order}
        doc = targets[0].doc if targets else None

        memo: Dict[Tuple[int, int], bool] = {}

        def linked(a: int, b: int) -> bool:
            """Only list material between target a (earlier) and target b (later).

            Memoized: every pair is walked once however many cues ask (linear cost)."""
            key = (a, b)
            if key not in memo:
                memo[key] = _linked(a, b)
            return memo[key]

        def _linked(a: int, b: int) -> bool:
            i, end = targets[a].end, targets[b].start
            if i > end or sent_of[a] != sent_of[b]:
                return i > end  # overlapping/nested targets count as linked
            while i < end:
                if doc[i].text == "(":
                    close = next((j for j in range(i + 1, min(i + 6, end)) if doc[j].text == ")"), None)
                    if close is None:
                        return False
                    i = close + 1
                    continue
                if not coord[i]:
                    return False
                i += 1
            return True

        pos = {t: k for k, t in enumerate(order)}
        for group in by_sent.values():
            for m in group:
                if not m.targets:
                    continue
                have = set(m.targets)
                direction = m.rule.direction
                budget = self.max_list_items
                if direction in ("FORWARD", "BIDIRECTIONAL"):
                    k = max(pos[t] for t in have)
                    while k + 1 < len(order) and budget > 0:
                        budget -= 1
                        nxt = order[k + 1]
                        if nxt in have or not linked(order[k], nxt) or targets[nxt].start < m.end:
                            break
                        if self.allows(m.rule_id, targets[nxt].label_.upper()):
                            m.targets.append(nxt)
                            have.add(nxt)
                        k += 1
                if direction in ("BACKWARD", "BIDIRECTIONAL"):
                    k = min(pos[t] for t in have)
                    budget = self.max_list_items
                    while k - 1 >= 0 and budget > 0:
                        budget -= 1
                        prev = order[k - 1]
                        if prev in have or not linked(prev, order[k]) or targets[prev].end > m.start:
                            break
                        if self.allows(m.rule_id, targets[prev].label_.upper()):
                            m.targets.append(prev)
                            have.add(prev)
                        k -= 1
