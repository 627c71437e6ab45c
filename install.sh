#!/bin/sh
# Install the k8sclaw CLI into an isolated environment and put it on PATH.
#
#   curl -fsSL https://deploy.k8sclaw.ai/install.sh | sh
#
# Environment:
#   K8SCLAW_VERSION         version to install (default: latest release)
#   K8SCLAW_INSTALL_SOURCE  a wheel file, a directory of wheels, or a package index URL
#                           to install from instead of the public index
#   K8SCLAW_HOME            where the environment lives (default: ~/.local/share/k8sclaw)
#   K8SCLAW_BIN_DIR         where the k8sclaw command goes (default: /usr/local/bin if
#                           writable, else ~/.local/bin)
set -eu

say() { printf '%s\n' "$*"; }
fail() { printf 'k8sclaw install: %s\n' "$*" >&2; exit 1; }

find_python() {
  for candidate in python3.13 python3.12 python3.11 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

case "$(uname -s)" in
  Linux|Darwin) ;;
  *) fail "unsupported OS $(uname -s); K8sClaw's CLI runs on Linux and macOS" ;;
esac

PYTHON=$(find_python) || fail "Python 3.11 or newer not found; install it (e.g. 'apt install python3' or 'brew install python') and re-run"
HOME_DIR=${K8SCLAW_HOME:-${HOME}/.local/share/k8sclaw}
VENV="$HOME_DIR/venv"
if [ -n "${K8SCLAW_BIN_DIR:-}" ]; then
  BIN_DIR=$K8SCLAW_BIN_DIR
elif [ -w /usr/local/bin ]; then
  BIN_DIR=/usr/local/bin
else
  BIN_DIR=$HOME/.local/bin
fi

SPEC=k8sclaw
[ -n "${K8SCLAW_VERSION:-}" ] && SPEC="k8sclaw==${K8SCLAW_VERSION#v}"
set --
SOURCE=${K8SCLAW_INSTALL_SOURCE:-}
if [ -n "$SOURCE" ]; then
  if [ -d "$SOURCE" ]; then
    set -- --find-links "$SOURCE"
  elif [ -f "$SOURCE" ]; then
    set -- --find-links "$(dirname "$SOURCE")"
    SPEC=$SOURCE
  else
    set -- --index-url "$SOURCE"
  fi
fi

say "Installing $SPEC with $PYTHON into $VENV"
mkdir -p "$HOME_DIR"
# Keep a previous installation until the new one works; never leave half an install.
rm -rf "$VENV.old"
[ -d "$VENV" ] && mv "$VENV" "$VENV.old"
rollback() { rm -rf "$VENV"; [ -d "$VENV.old" ] && mv "$VENV.old" "$VENV"; }
trap rollback EXIT
"$PYTHON" -m venv "$VENV" || fail "could not create a virtual environment (on Debian/Ubuntu: apt install python3-venv)"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@" "$SPEC" \
  || fail "pip could not install $SPEC"
"$VENV/bin/k8sclaw" version >/dev/null || fail "installed, but 'k8sclaw version' did not run"
trap - EXIT
rm -rf "$VENV.old"

mkdir -p "$BIN_DIR"
ln -sf "$VENV/bin/k8sclaw" "$BIN_DIR/k8sclaw"
"$BIN_DIR/k8sclaw" version >/dev/null || fail "installed, but '$BIN_DIR/k8sclaw version' did not run"

say "Installed: $("$BIN_DIR/k8sclaw" version)"
case ":$PATH:" in
  *":$BIN_DIR:"*) ;;
  *) say "Add $BIN_DIR to your PATH:  export PATH=\"$BIN_DIR:\$PATH\"" ;;
esac
say "Next: k8sclaw install    (puts the control plane into your current kubectl context)"
