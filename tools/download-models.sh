#!/usr/bin/env bash
# download-models.sh - fetch CLIP model folders from huggingface.co for dlut.
#
# Each model becomes ${DLUT_MODELS:-$HOME/.local/share/dlut/models}/<name>/
# holding config.json, preprocessor_config.json, the weights
# (model.safetensors if the repository has it, else pytorch_model.bin) and
# the tokenizer files (vocab.json + merges.txt for OpenAI CLIP, vocab.txt for
# Chinese-CLIP). Downloads resume (curl -C -), go to "<file>.part" and are
# renamed only after the checks pass: size and, for Git LFS files, the
# SHA-256 that huggingface.co announces in its X-Linked-Etag header; then a
# format sniff (JSON object, safetensors header, zip archive).
#
# This script needs internet access to reach huggingface.co. The test suite
# (tests/t_ckpt.py) runs it against a local fake hub through HF_ENDPOINT; it
# has not been run against the real huggingface.co from the build sandbox.
set -euo pipefail

HF_ENDPOINT=${HF_ENDPOINT:-https://huggingface.co}
DEST_ROOT=${DLUT_MODELS:-${HOME:-/tmp}/.local/share/dlut/models}
DEFAULT_MODELS=(chinese-clip-vit-large-patch14-336px chinese-clip-vit-base-patch16 clip-vit-base-patch32)

# name | repository | family (openai: BPE vocab.json+merges.txt, chinese: WordPiece vocab.txt) | approx. weights size
MODELS="
clip-vit-base-patch32|openai/clip-vit-base-patch32|openai|~605 MB
clip-vit-base-patch16|openai/clip-vit-base-patch16|openai|~599 MB
clip-vit-large-patch14|openai/clip-vit-large-patch14|openai|~1.7 GB
clip-vit-large-patch14-336|openai/clip-vit-large-patch14-336|openai|~1.7 GB
chinese-clip-vit-base-patch16|OFA-Sys/chinese-clip-vit-base-patch16|chinese|~753 MB
chinese-clip-vit-large-patch14|OFA-Sys/chinese-clip-vit-large-patch14|chinese|~1.6 GB
chinese-clip-vit-large-patch14-336px|OFA-Sys/chinese-clip-vit-large-patch14-336px|chinese|~1.6 GB
chinese-clip-vit-huge-patch14|OFA-Sys/chinese-clip-vit-huge-patch14|chinese|~3.8 GB
"

usage() {
  cat <<EOF
usage: download-models.sh [options] [NAME...]

Download CLIP model folders from $HF_ENDPOINT into
  \$DLUT_MODELS/<NAME>/   (now: $DEST_ROOT)
With no NAME, downloads the three default models:
  ${DEFAULT_MODELS[*]}

NAME is a short name from --list, or a repository id "owner/repo" (the
folder is then named after "repo"; the tokenizer family is guessed from the
owner: OFA-Sys -> chinese, else openai).

options:
  --list           list the known models and exit
  --dir DIR        download into DIR instead of \$DLUT_MODELS
  --bin            prefer pytorch_model.bin over model.safetensors
  --verify         re-check the SHA-256 of files already downloaded
  -h, --help       this help

environment:
  DLUT_MODELS      destination root (default \$HOME/.local/share/dlut/models)
  HF_ENDPOINT      mirror to use instead of https://huggingface.co
                   (e.g. https://hf-mirror.com)
  HF_TOKEN         access token, sent as "Authorization: Bearer" (gated repos)

Needs curl (or huggingface-cli as a fallback) and sha256sum.

example:
  tools/download-models.sh clip-vit-base-patch32
  dlut grade --model \$DLUT_MODELS/clip-vit-base-patch32 photo.jpg "warm sunset film" -o look.cube
EOF
}

die() { echo "download-models.sh: $*" >&2; exit 1; }
usage_error() { echo "download-models.sh: $*" >&2; echo "(try --help)" >&2; exit 2; }

list_models() {
  printf '%-38s %-48s %-8s %s\n' NAME REPOSITORY FAMILY WEIGHTS
  while IFS='|' read -r name repo family size; do
    [ -n "$name" ] || continue
    mark=""
    for d in "${DEFAULT_MODELS[@]}"; do [ "$d" = "$name" ] && mark=" (default)"; done
    printf '%-38s %-48s %-8s %s%s\n' "$name" "$repo" "$family" "$size" "$mark"
  done <<<"$MODELS"
}

# lookup NAME -> "repo family folder", or fail
lookup() {
  local want=$1 name repo family size
  while IFS='|' read -r name repo family size; do
    [ -n "$name" ] || continue
    if [ "$want" = "$name" ] || [ "$want" = "$repo" ]; then
      echo "$repo $family $name"
      return 0
    fi
  done <<<"$MODELS"
  if [[ "$want" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$ ]]; then
    family=openai
    [[ "${want%%/*}" == OFA-Sys ]] && family=chinese
    echo "$want $family ${want##*/}"
    return 0
  fi
  return 1
}

CURL_AUTH=()
[ -n "${HF_TOKEN:-}" ] && CURL_AUTH=(-H "Authorization: Bearer $HF_TOKEN")

# head URL -> prints "status|size|sha256" (sha256 empty unless a Git LFS file)
head_info() {
  local url=$1 hdr status size sha
  hdr=$(curl -sS -I "${CURL_AUTH[@]}" --retry 3 --max-time 60 "$url" 2>/dev/null | tr -d '\r') || true
  status=$(printf '%s\n' "$hdr" | awk 'toupper($1) ~ /^HTTP\// {s=$2} END {print s}')
  size=$(printf '%s\n' "$hdr" | awk -F': ' 'tolower($1)=="x-linked-size" {print $2}' | tail -1)
  # Content-Length is the file's size only on a 200 (on a redirect it is the redirect's body)
  if [ -z "$size" ] && [ "$status" = 200 ]; then
    size=$(printf '%s\n' "$hdr" | awk -F': ' 'tolower($1)=="content-length" {print $2}' | tail -1)
  fi
  sha=$(printf '%s\n' "$hdr" | awk -F': ' 'tolower($1)=="x-linked-etag" {print $2}' | tr -d '"' | tail -1)
  [[ "$sha" =~ ^[0-9a-f]{64}$ ]] || sha=""
  echo "${status:-000}|${size:-}|${sha}"
}

# sniff FILE: the content looks like what its name says
sniff() {
  local f=$1 base
  base=$(basename "$f")
  case "$base" in
  *.json) [ "$(head -c 1 "$f")" = "{" ] || return 1 ;;
  *.safetensors)
    local n size
    n=$(od -An -t u8 -N 8 "$f" | tr -d ' ')
    size=$(stat -c %s "$f")
    [ -n "$n" ] && [ "$n" -gt 1 ] && [ "$n" -lt $((size - 7)) ] || return 1
    [ "$(dd if="$f" bs=1 skip=8 count=1 2>/dev/null)" = "{" ] || return 1
    ;;
  *.bin) [ "$(head -c 2 "$f")" = "PK" ] || return 1 ;;
  esac
  return 0
}

# fetch REPO FILE DESTDIR [optional] -> 0 ok, 3 missing upstream (404), dies otherwise
fetch() {
  local repo=$1 file=$2 dir=$3 optional=${4:-} url info status size sha out part
  url="$HF_ENDPOINT/$repo/resolve/main/$file"
  out="$dir/$file"
  part="$out.part"
  info=$(head_info "$url")
  IFS='|' read -r status size sha <<<"$info"
  case "$status" in
  200 | 302 | 307 | 301 | 308) ;;
  404) return 3 ;;
  401 | 403) die "$repo/$file: HTTP $status (gated or private repository? set HF_TOKEN)" ;;
  000) die "$repo/$file: cannot reach $HF_ENDPOINT (no internet? set HF_ENDPOINT for a mirror)" ;;
  *) [ -n "$optional" ] && return 3; die "$repo/$file: HTTP $status" ;;
  esac
  if [ -f "$out" ]; then
    if [ -n "$size" ] && [ "$(stat -c %s "$out")" != "$size" ]; then
      echo "  $file: size differs from upstream, downloading again"
      rm -f "$out"
    elif [ -n "$VERIFY" ] && [ -n "$sha" ] && [ "$(sha256sum "$out" | cut -d' ' -f1)" != "$sha" ]; then
      echo "  $file: SHA-256 differs from upstream, downloading again"
      rm -f "$out"
    else
      echo "  $file: already here"
      return 0
    fi
  fi
  echo "  $file${size:+ ($size bytes)}"
  if command -v curl >/dev/null; then
    # -C - resumes a previous .part; curl exits 33 if the server refuses ranges: restart then
    if ! curl -fL "${CURL_AUTH[@]}" --retry 5 --retry-delay 3 --connect-timeout 30 -C - -o "$part" \
      --progress-bar "$url"; then
      rm -f "$part"
      curl -fL "${CURL_AUTH[@]}" --retry 5 --retry-delay 3 --connect-timeout 30 -o "$part" --progress-bar "$url" ||
        die "$repo/$file: download failed (partial data kept in $part is removed; run again)"
    fi
  elif command -v huggingface-cli >/dev/null; then
    local tmpd
    tmpd=$(mktemp -d "$dir/.hf.XXXXXX")
    huggingface-cli download "$repo" "$file" --local-dir "$tmpd" >/dev/null || { rm -rf "$tmpd"; die "$repo/$file: huggingface-cli download failed"; }
    mv "$tmpd/$file" "$part"
    rm -rf "$tmpd"
  else
    die "need curl or huggingface-cli"
  fi
  if [ -n "$size" ] && [ "$(stat -c %s "$part")" != "$size" ]; then
    die "$repo/$file: got $(stat -c %s "$part") bytes, expected $size (run again to resume)"
  fi
  if [ -n "$sha" ]; then
    [ "$(sha256sum "$part" | cut -d' ' -f1)" = "$sha" ] || { rm -f "$part"; die "$repo/$file: SHA-256 mismatch (corrupt download removed; run again)"; }
  fi
  sniff "$part" || { rm -f "$part"; die "$repo/$file: downloaded content is not a valid $file (an HTML error page?)"; }
  mv -f "$part" "$out"
}

download_model() {
  local want=$1 info repo family name dir rc
  info=$(lookup "$want") || usage_error "unknown model '$want' (see --list)"
  read -r repo family name <<<"$info"
  dir="$DEST_ROOT/$name"
  mkdir -p "$dir" || die "cannot create $dir"
  echo "$repo -> $dir"
  fetch "$repo" config.json "$dir" || die "$repo: no config.json (is it a Hugging Face model repository?)"
  fetch "$repo" preprocessor_config.json "$dir" optional || echo "  (no preprocessor_config.json upstream)"
  local first=model.safetensors second=pytorch_model.bin
  [ -n "$PREFER_BIN" ] && { first=pytorch_model.bin; second=model.safetensors; }
  rc=0
  fetch "$repo" "$first" "$dir" || rc=$?
  if [ "$rc" = 3 ]; then
    rc=0
    fetch "$repo" "$second" "$dir" || rc=$?
    [ "$rc" = 3 ] && die "$repo: neither model.safetensors nor pytorch_model.bin (sharded checkpoints: fetch the .index.json and shards by hand)"
  fi
  if [ "$family" = chinese ]; then
    fetch "$repo" vocab.txt "$dir" || die "$repo: no vocab.txt"
  else
    fetch "$repo" vocab.json "$dir" || die "$repo: no vocab.json"
    fetch "$repo" merges.txt "$dir" || die "$repo: no merges.txt"
  fi
  for f in tokenizer_config.json special_tokens_map.json; do
    fetch "$repo" "$f" "$dir" optional || true
  done
  echo "  done: $dir"
}

PREFER_BIN=""
VERIFY=""
NAMES=()
while [ $# -gt 0 ]; do
  case "$1" in
  -h | --help) usage; exit 0 ;;
  --list) list_models; exit 0 ;;
  --dir) [ $# -ge 2 ] || usage_error "--dir needs a folder"; DEST_ROOT=$2; shift ;;
  --bin) PREFER_BIN=1 ;;
  --verify) VERIFY=1 ;;
  -*) usage_error "unknown option '$1'" ;;
  *) NAMES+=("$1") ;;
  esac
  shift
done
[ ${#NAMES[@]} -gt 0 ] || NAMES=("${DEFAULT_MODELS[@]}")
# Resolve every name before downloading anything, so a typo fails fast.
for n in "${NAMES[@]}"; do lookup "$n" >/dev/null || usage_error "unknown model '$n' (see --list)"; done
command -v curl >/dev/null || command -v huggingface-cli >/dev/null || die "need curl or huggingface-cli"
command -v sha256sum >/dev/null || die "need sha256sum (coreutils)"
for n in "${NAMES[@]}"; do download_model "$n"; done
