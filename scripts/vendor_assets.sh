#!/usr/bin/env bash
# Vendors the web app's front-end packages from npm into src/wardbook/web/static/vendor/.
#
# Installs the exact versions in scripts/vendor/package.json into a temporary folder, compiles
# NHS.UK frontend's Sass with system fonts (no licensed webfont, nothing from a CDN), copies only
# the files the pages load plus the licences, and writes vendor/lock.json with each package's
# version and npm integrity and each copied file's sha256. Re-run after changing a version;
# commit the result. The server never fetches anything from the internet at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT="$ROOT/src/wardbook/web/static/vendor"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cp scripts/vendor/package.json scripts/vendor/nhsuk.scss "$WORK/"
(cd "$WORK" && npm install --ignore-scripts --no-audit --no-fund --silent)
M="$WORK/node_modules"

rm -rf "$OUT" && mkdir -p "$OUT"
(cd "$WORK" && "$M/.bin/sass" --no-source-map --style=compressed --load-path=node_modules \
  --quiet-deps --silence-deprecation=import nhsuk.scss "$OUT/nhsuk-frontend.min.css")
cp "$M/nhsuk-frontend/dist/nhsuk/nhsuk-frontend.min.js" "$OUT/nhsuk-frontend.min.js"
sed -i '/^\/\/# sourceMappingURL=/d;s#//\# sourceMappingURL=[^ ]*$##' "$OUT/nhsuk-frontend.min.js"
# The interface icons the stylesheet refers to (not the NHS logo, favicons or social images).
mkdir -p "$OUT/images"
cp "$M"/nhsuk-frontend/dist/nhsuk/assets/images/nhsuk-icon-{arrow-*,chevron-*,cross,minus,plus,search,tick,user}*.svg "$OUT/images/"
cp "$M/htmx.org/dist/htmx.min.js" "$OUT/htmx.min.js"
cp "$M/uplot/dist/uPlot.iife.min.js" "$OUT/uPlot.iife.min.js"
cp "$M/uplot/dist/uPlot.min.css" "$OUT/uPlot.min.css"
mkdir -p "$OUT/licenses"
cp "$M/htmx.org/LICENSE" "$OUT/licenses/htmx.org.txt"
cp "$M/uplot/LICENSE" "$OUT/licenses/uplot.txt"
node -e 'console.log("MIT License\n\nnhsuk-frontend " + require(process.argv[1]).version + " (c) NHS England, https://github.com/nhsuk/nhsuk-frontend")' \
  "$M/nhsuk-frontend/package.json" > "$OUT/licenses/nhsuk-frontend.txt"

node - "$WORK/package-lock.json" "$OUT" <<'JS' > "$OUT/lock.json"
const fs = require("fs"), path = require("path"), crypto = require("crypto");
const [lockPath, out] = process.argv.slice(2);
const lock = JSON.parse(fs.readFileSync(lockPath, "utf8"));
const pkgs = {};
for (const name of ["nhsuk-frontend", "htmx.org", "uplot", "sass"]) {
  const p = lock.packages["node_modules/" + name];
  pkgs[name] = { version: p.version, resolved: p.resolved, integrity: p.integrity };
}
const files = {};
const walk = (dir) => fs.readdirSync(dir).sort().forEach((f) => {
  const full = path.join(dir, f);
  if (fs.statSync(full).isDirectory()) return walk(full);
  const rel = path.relative(out, full);
  if (rel === "lock.json") return;
  files[rel] = "sha256-" + crypto.createHash("sha256").update(fs.readFileSync(full)).digest("base64");
});
walk(out);
console.log(JSON.stringify({ packages: pkgs, files }, null, 2));
JS
echo "vendored into $OUT:"; ls -la "$OUT"
