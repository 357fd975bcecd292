import sys, nltk
try:
    import nltk.pathsec
    nltk.pathsec.ENFORCE = False
except ImportError:
    pass
from nltk.downloader import Downloader
index, target = sys.argv[1], sys.argv[2]
ok = Downloader(server_index_url=index).download("demo_all", download_dir=target, quiet=True, raise_on_error=True)
assert ok, "download returned False"
nltk.data.path[:] = [target]
for p in ["corpora/demo_words/words.txt", "tokenizers/demo_tok/README"]:
    print(p, open(nltk.data.find(p)).read().strip().replace("\n", "|"))
