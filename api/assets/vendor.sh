#!/usr/bin/env bash
# Re-vendors GraphiQL and React from the npm registry into api/assets/vendor/.
#
# GraphiQL 3 is the last major version shipped as a UMD bundle (4 and later are ES modules
# meant for a CDN or a bundler); React 18 is the last with UMD builds. The stylesheet inlines
# its fonts and images as `data:` URLs, which a Content-Security-Policy of 'self' blocks, so
# this script moves each one into a file beside the stylesheet and points the stylesheet at it.
#
# Usage: bash api/assets/vendor.sh   (needs npm, node and tar; then rebuild)
set -euo pipefail
GRAPHIQL=3.9.0
REACT=18.3.1
out="$(cd "$(dirname "$0")" && pwd)/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null
for tarball in "graphiql-$GRAPHIQL" "react-$REACT" "react-dom-$REACT"; do
  package="${tarball%-*}"
  mkdir "$package"
  tar xzf "$tarball.tgz" -C "$package" --strip-components=1
done
rm -rf "$out"
mkdir -p "$out"
cp graphiql/graphiql.min.js "$out/graphiql.min.js"
cp graphiql/LICENSE "$out/LICENSE-graphiql"
cp react/umd/react.production.min.js "$out/react.production.min.js"
cp react/LICENSE "$out/LICENSE-react"
cp react-dom/umd/react-dom.production.min.js "$out/react-dom.production.min.js"
cp react-dom/LICENSE "$out/LICENSE-react-dom"
node - graphiql/graphiql.min.css "$out" <<'JS'
const fs = require('fs');
const path = require('path');
const [css, out] = process.argv.slice(2);
const extensions = { 'font/woff2': 'woff2', 'font/woff': 'woff', 'image/png': 'png' };
let n = 0;
const rewritten = fs.readFileSync(css, 'utf8').replace(
  /url\(data:([a-z0-9/+.-]+);base64,([A-Za-z0-9+/=]+)\)/g,
  (_, type, data) => {
    const extension = extensions[type];
    if (!extension) throw new Error(`unexpected data URL type ${type}`);
    n += 1;
    const name = `graphiql-${String(n).padStart(2, '0')}.${extension}`;
    fs.writeFileSync(path.join(out, name), Buffer.from(data, 'base64'));
    return `url(${name})`;
  });
if (rewritten.includes('data:')) throw new Error('a data: URL is left in the stylesheet');
fs.writeFileSync(path.join(out, 'graphiql.min.css'), rewritten);
console.error(`moved ${n} data: URLs out of graphiql.min.css`);
JS
echo "vendored graphiql $GRAPHIQL and react $REACT into $out" >&2
