#!/usr/bin/env bash
# Secret scan (make secretscan): gitleaks over a source tree and over the
# printable strings of a built binary (gitleaks skips binary files itself).
# Usage: scripts/secretscan.sh TREE BINARY [CONFIG]. Exits non-zero on a finding.
set -euo pipefail
tree=$1 bin=$2 conf=${3:-$(dirname "$0")/../.gitleaks.toml}
gitleaks=${GITLEAKS:-$(go tool -n gitleaks)}
command -v strings >/dev/null || { echo "secretscan: strings is missing: apt-get install binutils" >&2; exit 2; }
[ -f "$bin" ] || { echo "secretscan: no binary at $bin (run make build)" >&2; exit 2; }
echo "secretscan: tree $tree"
"$gitleaks" dir "$tree" --no-banner --no-color --redact -c "$conf" --exit-code 1
echo "secretscan: binary $bin"
strings -n 8 "$bin" | "$gitleaks" stdin --no-banner --no-color --redact -c "$conf" --exit-code 1
