#!/usr/bin/env bash
# Installs the programs costwarden's tests drive, from Debian's packages, when they
# are missing. .ci/run installs them up front; on a developer machine `make test`
# calls this. Needs root (or sudo) only when something is missing.
set -euo pipefail

# command -> Debian package
declare -A need=(
  [openssl]=openssl
  [oathtool]=oathtool # independent TOTP authenticator (issue 5)
  [hydra]=hydra       # online brute-force client against the login form (issue 5)
  [zbarimg]=zbar-tools # independent QR-code decoder for the TOTP enrolment code (issue 5)
  [pg_ctlcluster]=postgresql
  [prometheus]=prometheus # Prometheus integration tests (issue 4) and the cost-metrics scrape (issue 8)
  [promtool]=prometheus
  [chromium]=chromium     # the dashboard's browser tests, driven with chromedp (issue 8)
  [ldd]=libc-bin          # the image's binary is static (issue 10)
  [unshare]=util-linux    # the image's binary on a read-only root as uid 65532 (issue 10)
  [setpriv]=util-linux
  [mount]=mount
  [strace]=strace       # independent witness of every connect() in the air-gapped test (issue 7)
  [rsyslogd]=rsyslog    # the real syslog collector the audit sink is tested against (issue 7)
  [strings]=binutils    # the secret scan reads the binary's strings (issue 7)
)

missing=()
for cmd in "${!need[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    case " ${missing[*]} " in *" ${need[$cmd]} "*) ;; *) missing+=("${need[$cmd]}") ;; esac
  fi
done
# The PostgreSQL server binaries live outside PATH (/usr/lib/postgresql/N/bin).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  [[ " ${missing[*]} " == *" postgresql "* ]] || missing+=(postgresql)
fi
# rsyslog's TLS driver (the audit sink's TLS test) is a module, not a command.
if ! ls /usr/lib/*/rsyslog/lmnsd_gtls.so >/dev/null 2>&1; then
  missing+=(rsyslog-gnutls)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "ensure-tools: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "ensure-tools: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
