#!/usr/bin/env bash
# Lighthouse 12 (mobile, the default form factor) against the built site on loopback, with Debian's
# chromium: prints the four category scores for the home page, the repair form page and a news article.
# Measured, not asserted: not part of `make test`. Usage: bench/lighthouse.sh [report-dir]
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
NPM_PREFIX="$ROOT/.cache/npm"
LIGHTHOUSE="$NPM_PREFIX/node_modules/.bin/lighthouse"
REPORTS="$(realpath -m "${1:-$ROOT/test-artifacts/lighthouse}")"
export CHROME_PATH="${CHROME_PATH:-/usr/bin/chromium}"
CHROME_FLAGS="--headless=new --no-sandbox --disable-gpu --no-first-run --disable-background-networking"

[ -x "$PY" ] || { echo "No $PY: run 'make test' (or 'make demo') once first." >&2; exit 1; }
[ -x "$CHROME_PATH" ] || { echo "No chromium at $CHROME_PATH: apt-get install chromium" >&2; exit 1; }
if [ ! -x "$LIGHTHOUSE" ]; then
    command -v npm >/dev/null || { echo "Lighthouse needs npm: apt-get install npm" >&2; exit 1; }
    # 12.x runs on Node 20; 13.x needs Node 22.
    npm install --silent --no-audit --no-fund --prefix "$NPM_PREFIX" lighthouse@12
fi

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

cd "$ROOT"
"$PY" -m pelican content -s pelicanconf.py -o "$WORK/site" -q
PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$PY" -m http.server "$PORT" --bind 127.0.0.1 --directory "$WORK/site" >/dev/null 2>&1 &
SERVER_PID=$!
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 50); do
    "$PY" -c "import urllib.request; urllib.request.urlopen('$BASE/')" 2>/dev/null && break
    sleep 0.1
done

mkdir -p "$REPORTS"
REPAIR_PATH="$("$PY" -c 'from shop.site import page_path; print(page_path("repair"))')"
NEWS_PATH="$("$PY" -c 'from shop.site import page_path; print(page_path("news"))')"
# The newest article: the first one the news index links to.
ARTICLE_PATH="$("$PY" - "$WORK/site$NEWS_PATH" <<'PYEOF'
import re, sys
html = open(sys.argv[1] + "index.html", encoding="utf-8").read()
print(re.search(r'class="news-list">\s*<li><a href="([^"]+)"', html).group(1))
PYEOF
)"
for entry in "home /" "repair $REPAIR_PATH" "article $ARTICLE_PATH"; do
    set -- $entry
    echo "Lighthouse: $BASE$2" >&2
    "$LIGHTHOUSE" "$BASE$2" --quiet \
        --chrome-flags="$CHROME_FLAGS" \
        --only-categories=performance,accessibility,best-practices,seo \
        --output=json --output=html --output-path="$REPORTS/$1"
done

"$PY" "$ROOT/bench/lighthouse_scores.py" "$REPORTS/home.report.json" "$REPORTS/repair.report.json" \
    "$REPORTS/article.report.json"
echo "Reports (JSON and HTML): $REPORTS"
