"""tests/t_tokenizer.py - `dlut tokenize` against upstream reference ids and Python.

1. Every case of clip-ref/tokenizer_tests/ (made by openai/CLIP's and
   Chinese-CLIP's own tokenize()) through the command line, exact, with and
   without --pad; the model folders' texts.json against ref/input_ids.npy.
2. html.unescape: OpenAI's clean-up applies Python's html.unescape twice; for
   text containing '<' (ftfy's own unescaping is then off) and otherwise
   plain ASCII, `--cleaned` must equal Python's
   re.sub(r'\\s+', ' ', html.unescape(html.unescape(s)).strip()).strip().lower()
   over many character references (named, legacy without ';', numeric,
   invalid, huge).
3. Unicode sweep for the WordPiece basic tokenizer: every assigned code point
   of Python's unicodedata through `dlut tokenize --kind wordpiece`, compared
   with BERT's BasicTokenizer + WordPiece written with Python's own
   str.lower / str.split / unicodedata (the primitives the C code ports).
Usage: BUILD=build python3 tests/t_tokenizer.py (tests/run.sh sets DLUT, DLUT_SHARED).
"""
import html
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import unicodedata

import numpy as np

DLUT = os.environ.get("DLUT") or os.path.join(os.environ.get("BUILD", "build"), "dlut")
SHARED = os.environ.get("DLUT_SHARED", "../shared")
REF = os.path.join(SHARED, "data", "clip-ref")
failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL:", msg)


def tokenize(args, text):
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
        path = f.name
    try:
        r = subprocess.run([DLUT, "tokenize", *args, "--file", path], capture_output=True)
    finally:
        os.unlink(path)
    if r.returncode != 0:
        fail("dlut tokenize %s exited %d: %s" % (args, r.returncode, r.stderr.decode(errors="replace")))
        return None
    return json.loads(r.stdout)


def tokenize_many(args, texts):
    """One `dlut tokenize` run for many texts (one JSON line each); texts with
    NUL (which argv cannot carry) go through --file one by one."""
    plain = [t for t in texts if "\0" not in t]
    out = {}
    if plain:
        r = subprocess.run([DLUT, "tokenize", *args, "--", *plain], capture_output=True)
        lines = r.stdout.decode("utf-8").splitlines()
        if r.returncode != 0 or len(lines) != len(plain):
            fail("dlut tokenize %s exited %d: %s" % (args, r.returncode, r.stderr.decode(errors="replace")))
            return [None] * len(texts)
        it = iter(lines)
    res = []
    for t in texts:
        res.append(tokenize(args, t) if "\0" in t else json.loads(next(it)))
    return res


# ==== 1. reference cases ====
for fname, model, ctx in [("openai_clip_tokenizer.json", "openai_tiny", 77),
                          ("chinese_clip_tokenizer.json", "chinese_clip_tiny", 52)]:
    d = json.load(open(os.path.join(REF, "tokenizer_tests", fname), encoding="utf-8"))
    assert d["context_length"] == ctx
    mdir = os.path.join(REF, model)
    ok = 0
    texts = [c["text"] for c in d["cases"]]
    all_got = tokenize_many(["--model", mdir], texts)
    all_gotp = tokenize_many(["--model", mdir, "--pad"], texts)
    for i, c in enumerate(d["cases"]):
        want = c["input_ids"]
        n = sum(c["attention_mask"])
        got, gotp = all_got[i], all_gotp[i]
        if got is None or gotp is None:
            continue
        if got["ids"] != want[:n] or gotp["ids"] != want:
            fail("%s case %d %r: got %s want %s" % (fname, i, c["text"], got["ids"], want[:n]))
        else:
            ok += 1
    print("%s: %d/%d exact" % (fname, ok, len(d["cases"])))

for model in ["openai_tiny", "chinese_clip_tiny"]:
    mdir = os.path.join(REF, model)
    texts = json.load(open(os.path.join(mdir, "texts.json"), encoding="utf-8"))
    ref = np.load(os.path.join(mdir, "ref", "input_ids.npy"))
    for t, got in enumerate(tokenize_many(["--model", mdir, "--pad"], texts)):
        if got is not None and got["ids"] != ref[t].tolist():
            fail("%s text %d: got %s want %s" % (model, t, got["ids"], ref[t].tolist()))

# ==== 2. html.unescape ====
rng = random.Random(7)
names = sorted(html.entities.html5.keys())
pieces = ["&#%d;" % n for n in [0, 9, 13, 38, 60, 65, 128, 130, 133, 150, 159, 160, 173, 233, 0xD800, 0xDFFF,
                                 0xFDD0, 0xFFFE, 0x10FFFF, 0x110000, 99999999999999999999]]
pieces += ["&#x%x;" % n for n in [0x41, 0x80, 0x9F, 0xE9, 0x1F600, 0x10FFFF, 0x110000]]
pieces += ["&#X41", "&#65", "&#", "&#;", "&#x;", "&#xZZ;", "&notit;", "&notin;", "&ampx", "&amp", "&AMP;",
           "&Amp;", "&lt", "&gt;&gt;", "&copy2024", "&;", "& ", "&&amp;", "&amp;amp;", "&amp;lt;", "&xyz;",
           "&abcdefghijklmnopqrstuvwxyzabcdefghijk;", "&nbsp;", "&NewLine;", "&Tab;", "&zwj;", "&lang;"]
strings = []
for k in range(400):
    parts = ["<"]
    for _ in range(rng.randint(1, 6)):
        r = rng.random()
        if r < 0.4:
            name = rng.choice(names)
            parts.append("&" + name)
        elif r < 0.8:
            parts.append(rng.choice(pieces))
        else:
            parts.append(rng.choice(["a", "B", " ", "x y", ";", "#", "amp", "1"]))
    strings.append("".join(parts))
bpe_vocab = os.path.join(REF, "openai_tiny", "vocab.json")
ok = 0
for s, got in zip(strings, tokenize_many(["--vocab", bpe_vocab, "--kind", "bpe", "--cleaned"], strings)):
    want = re.sub(r"\s+", " ", html.unescape(html.unescape(s)).strip()).strip().lower()
    if got is None:
        continue
    if got["cleaned"] != want:
        fail("html %r: got %r want %r" % (s, got["cleaned"], want))
    else:
        ok += 1
print("html.unescape: %d/%d exact" % (ok, len(strings)))


# ==== 3. str.lower() sweep through OpenAI's clean-up ====
# Characters on which ftfy's steps are the identity (NFC-stable, not C1, not
# width/ligature/quote/control characters, not the mojibake-prone Ã and Â),
# separated by spaces: the cleaned text must be Python's lower() of each.
LIGS = set(map(ord, "\u0132\u0133\u0149\u01f1\u01f2\u01f3\u01c4\u01c5\u01c6\u01c7\u01c8\u01c9\u01ca\u01cb\u01cc"
                    "\ufb00\ufb01\ufb02\ufb03\ufb04\ufb05\ufb06"))


def ftfy_inert(c):
    cp = ord(c)
    if unicodedata.category(c) in ("Cn", "Cc", "Cf", "Cs", "Co", "Zs", "Zl", "Zp") or c.isspace():
        return False
    if 0x80 <= cp <= 0x9F or 0xFF01 <= cp <= 0xFFEF or cp in LIGS or cp in (0xC2, 0xC3, 0x2BC, 0x26, 0x3C):
        return False
    if 0x2018 <= cp <= 0x201F or 0xFFF9 <= cp <= 0xFFFC or unicodedata.normalize("NFC", c) != c:
        return False
    return True


lower_chars = [chr(c) for c in range(0x21, 0x30000) if not 0xD800 <= c <= 0xDFFF and ftfy_inert(chr(c))]
texts = [" ".join(lower_chars[k:k + 8000]) for k in range(0, len(lower_chars), 8000)]
ok = 0
for t, got in zip(texts, tokenize_many(["--vocab", bpe_vocab, "--kind", "bpe", "--cleaned"], texts)):
    want = t.lower()
    if got is None:
        continue
    if got["cleaned"] != want:
        g, w = got["cleaned"].split(" "), want.split(" ")
        src = t.split(" ")
        bad = ["U+%04X: got %r want %r" % (ord(c), a, b) for c, a, b in zip(src, g, w) if a != b][:5]
        fail("lower(): %d words, %d expected; first differences: %s" % (len(g), len(w), bad))
    else:
        ok += 1
print("lower() sweep: %d/%d chunks exact (%d characters)" % (ok, len(texts), len(lower_chars)))

# Final sigma and other context-dependent lower-casing (Python's handle_capital_sigma).
greek = ["ΟΔΥΣΣΕΥΣ", "ΣΑΣ Σ ΑΣ. ΑΣ' Σ1 1Σ ΑΣΑ", "ΑΣ\u0301 ΑΣ\u0301Β", "İSTANBUL İ", "ΣΣ ΑΣΣ"]
for t, got in zip(greek, tokenize_many(["--vocab", bpe_vocab, "--kind", "bpe", "--cleaned"], greek)):
    if got is not None and got["cleaned"] != unicodedata.normalize("NFC", t).lower():
        fail("lower(%r): got %r want %r" % (t, got["cleaned"], unicodedata.normalize("NFC", t).lower()))


# ==== 4. WordPiece Unicode sweep ====
def load_vocab(path):
    vocab = {}
    with open(path, "r", encoding="utf-8") as f:
        for i, line in enumerate(f):
            vocab[line.strip()] = i
    return vocab


def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or
            0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or
            0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def bert_ids(text, vocab):
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or (ch not in "\t\n\r" and unicodedata.category(ch) in ("Cc", "Cf")):
            continue
        if ch in " \t\n\r" or unicodedata.category(ch) == "Zs":
            out.append(" ")
        elif is_cjk(cp):
            out.append(" " + ch + " ")
        else:
            out.append(ch)
    words = []
    for tok in "".join(out).split():
        tok = "".join(c for c in unicodedata.normalize("NFD", tok.lower()) if unicodedata.category(c) != "Mn")
        cur = []
        for c in tok:
            if is_punct(c):
                if cur:
                    words.append("".join(cur))
                    cur = []
                words.append(c)
            else:
                cur.append(c)
        if cur:
            words.append("".join(cur))
    ids = []
    for w in " ".join(words).split():
        if len(w) > 200:
            ids.append(vocab["[UNK]"])
            continue
        start, sub = 0, []
        while start < len(w):
            end, cur = len(w), None
            while start < end:
                s = w[start:end] if start == 0 else "##" + w[start:end]
                if s in vocab:
                    cur = s
                    break
                end -= 1
            if cur is None:
                sub = None
                break
            sub.append(vocab[cur])
            start = end
        ids.extend([vocab["[UNK]"]] if sub is None else sub)
    return ids


vocab_txt = os.path.join(REF, "chinese_clip_tiny", "vocab.txt")
vocab = load_vocab(vocab_txt)
chars = [chr(c) for c in range(1, 0x30000)
         if not 0xD800 <= c <= 0xDFFF and unicodedata.category(chr(c)) != "Cn"]
# Each character alone, then next to a letter (accents, casing, punctuation
# splits); chunks stay below the context length.
chunk, sweep_fail, nchunks = 4000, 0, 0
for k in range(0, len(chars), chunk):
    part = chars[k:k + chunk]
    text = " ".join(part) + " " + " ".join("a" + c + "b" for c in part[::7])
    want = [101] + bert_ids(text, vocab) + [102]
    got = tokenize(["--vocab", vocab_txt, "--kind", "wordpiece", "--context", str(len(want) + 8)], text)
    nchunks += 1
    if got is None:
        continue
    if got["ids"] != want:
        # find the first differing character for the message
        for c in part:
            w1 = [101] + bert_ids(c, vocab) + [102]
            g1 = tokenize(["--vocab", vocab_txt, "--kind", "wordpiece"], c)
            if g1 and g1["ids"] != w1:
                fail("wordpiece U+%04X %s: got %s want %s" % (ord(c), unicodedata.name(c, "?"), g1["ids"], w1))
                break
        else:
            fail("wordpiece chunk %d differs" % k)
        sweep_fail += 1
print("wordpiece unicode sweep: %d/%d chunks exact (%d characters)" % (nchunks - sweep_fail, nchunks, len(chars)))

# ==== 5. command line contract ====
def run(args, stdin=None):
    return subprocess.run([DLUT, "tokenize", *args], capture_output=True, input=stdin)


mdir = os.path.join(REF, "openai_tiny")
r = run(["--help"])
if r.returncode != 0 or b"usage: dlut tokenize" not in r.stdout or b"example" not in r.stdout:
    fail("--help: exit %d" % r.returncode)
for args, code in [([], 2), (["--model", mdir], 2), (["--bogus", "x"], 2), (["--model", mdir, "--context", "1", "x"], 2),
                   (["--vocab", bpe_vocab, "x"], 2), (["--model", "/nonexistent", "x"], 1),
                   (["--model", mdir, "--file", "/nonexistent", ], 1)]:
    r = run(args)
    if r.returncode != code or not r.stderr.startswith(b"dlut tokenize: ") or r.stdout:
        fail("%s: exit %d (want %d), stderr %r" % (args, r.returncode, code, r.stderr))
r = run(["--model", mdir, "--file", "-"], stdin="A Photo Of A CAT".encode())
if r.returncode != 0 or json.loads(r.stdout)["ids"] != [49406, 320, 1125, 539, 320, 2368, 49407]:
    fail("--file -: %r" % r.stdout)
env = dict(os.environ, DLUT_MODEL=mdir)
r = subprocess.run([DLUT, "tokenize", "a photo of a cat"], capture_output=True, env=env)
if r.returncode != 0 or json.loads(r.stdout)["ids"] != [49406, 320, 1125, 539, 320, 2368, 49407]:
    fail("DLUT_MODEL: %r %r" % (r.stdout, r.stderr))

print("t_tokenizer: %d failures" % failures)
sys.exit(1 if failures else 0)
