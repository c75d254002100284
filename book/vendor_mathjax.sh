#!/usr/bin/env bash
# Vendor MathJax 3 into book/_static/mathjax so the built book typesets math with no network at read time.
# Idempotent: does nothing when the files are already there. Needs npm (the npm registry) once.
# The vendored files (~6 MB) are git-ignored; `make book` runs this script when they are absent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="$here/_static/mathjax"
js="$dest/tex-mml-chtml.js"
fonts="$dest/output/chtml/fonts/woff-v2"
if [ -s "$js" ] && [ -d "$fonts" ] && [ -n "$(ls -A "$fonts")" ]; then
  echo "MathJax already vendored in $dest"
  exit 0
fi
command -v npm >/dev/null || { echo "error: npm not found; install Node.js/npm to vendor MathJax" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && npm pack --silent mathjax@3 >/dev/null && tar xzf mathjax-3.*.tgz )
mkdir -p "$dest/output/chtml/fonts"
cp "$tmp/package/es5/tex-mml-chtml.js" "$dest/"
rm -rf "$fonts"
cp -r "$tmp/package/es5/output/chtml/fonts/woff-v2" "$dest/output/chtml/fonts/"
version="$(node -p "require('$tmp/package/package.json').version" 2>/dev/null || echo 3)"
echo "$version" > "$dest/VERSION"
echo "vendored MathJax $version into $dest ($(du -sh "$dest" | cut -f1))"
