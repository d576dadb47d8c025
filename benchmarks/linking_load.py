"""Cold-load time of a pipeline with and without the umls_linker, in fresh processes.

    PYTHONPATH=. python benchmarks/linking_load.py models/blank_clinical models/linker_open /tmp/synpipe

Prints, per pipeline: seconds to import spaCy + this package, seconds for ``spacy.load``, and
the resident memory after loading. The difference between a pipeline and the blank one is what
the linker costs (opening its memory-mapped KB and index).
"""

import subprocess
import sys

CODE = """
import time, json, resource
t0 = time.perf_counter()
import spacy
import spacy_clinical_ner.linking.component
t1 = time.perf_counter()
nlp = spacy.load({path!r})
t2 = time.perf_counter()
rss = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS:')][0] / 1e6
print(json.dumps({{"pipeline": {path!r}, "import_s": round(t1 - t0, 2), "spacy_load_s": round(t2 - t1, 3), "rss_gb": round(rss, 3)}}))
"""

if __name__ == "__main__":
    for path in sys.argv[1:]:
        for _ in range(2):  # second run: warm OS file cache
            out = subprocess.run([sys.executable, "-c", CODE.format(path=path)], capture_output=True, text=True, check=True)
            print(out.stdout.strip())
