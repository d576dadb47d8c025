"""Numbered errors and warnings of the graph export (E90x / W90x)."""

from ..errors import ErrorsWithCodes


class GraphErrors(metaclass=ErrorsWithCodes):
    E901 = "Unknown graph format {value!r}; expected a comma-separated list of {options}"
    E902 = "{path} holds no annotation record ({problems} broken line(s)): nothing to build a graph from"
    E903 = "The notes file {path} has no column or key {field!r} ({option}); it has {fields}"
    E904 = "The graph export needs the '{module}' package: pip install 'spacy-clinical-ner[{extra}]'"
    E905 = "Note {note_id!r} is given two patients ({first!r} and {second!r}) in {path}"


class GraphWarnings(metaclass=ErrorsWithCodes):
    W901 = "{path}, line {line}: {reason} (the line is left out; the other lines are kept)"
    W902 = "Note id {note_id!r} comes again ({source}): renamed {new_id!r}"
