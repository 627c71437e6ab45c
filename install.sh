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
#
# Safety (SPEC §14): everything below is function definitions; the only command is `main`
# on the last line, so a download cut short runs nothing (or fails to parse). Each install
# is built in a new directory ($K8SCLAW_HOME/venv.XXXXXX) and switched to by renaming a
# symlink ($K8SCLAW_HOME/venv) over the old one: a venv holds its own absolute path, so it
# cannot be renamed itself, but a rename(2) of the link is atomic. The previous install is
# removed only after the new one ran. INT and TERM are trapped as well as EXIT, because
# dash does not run the EXIT trap when a signal kills it.
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

# Remove what this run built and has not switched to yet (idempotent: EXIT follows INT).
cleanup() {
  if [ -n "${NEW_LINK:-}" ]; then rm -f "$NEW_LINK"; fi
  if [ -n "${NEW_DIR:-}" ] && [ "${SWITCHED:-0}" = 0 ]; then rm -rf "$NEW_DIR"; fi
  if [ -n "${LEGACY:-}" ] && [ -d "$LEGACY" ] && [ ! -e "$LINK" ]; then mv "$LEGACY" "$LINK"; fi
}

on_signal() {
  trap - EXIT INT TERM
  cleanup
  say "k8sclaw install: interrupted; the previous installation (if any) is unchanged" >&2
  exit "$1"
}

# Point $LINK at $NEW_DIR with one rename, then remove the installation it replaced.
switch_to_new() {
  previous=""
  if [ -L "$LINK" ]; then
    previous=$(readlink "$LINK")
  elif [ -d "$LINK" ]; then  # a venv directory from an older install.sh
    LEGACY="$LINK.previous.$$"
    mv "$LINK" "$LEGACY"
  fi
  NEW_LINK="$HOME_DIR/.venv-link.$$"
  ln -s "$(basename "$NEW_DIR")" "$NEW_LINK"
  "$PYTHON" -c 'import os, sys; os.replace(sys.argv[1], sys.argv[2])' "$NEW_LINK" "$LINK" \
    || fail "could not switch $LINK to the new installation"
  SWITCHED=1
  NEW_LINK=""
  case "$previous" in
    venv.*) rm -rf "${HOME_DIR:?}/$previous" ;;
  esac
  if [ -n "${LEGACY:-}" ]; then rm -rf "$LEGACY"; LEGACY=""; fi
}

pick_bin_dir() {
  if [ -n "${K8SCLAW_BIN_DIR:-}" ]; then
    BIN_DIR=$K8SCLAW_BIN_DIR
  elif [ -w /usr/local/bin ]; then
    BIN_DIR=/usr/local/bin
  else
    BIN_DIR=$HOME/.local/bin
  fi
}

main() {
  case "$(uname -s)" in
    Linux|Darwin) ;;
    *) fail "unsupported OS $(uname -s); K8sClaw's CLI runs on Linux and macOS" ;;
  esac

  PYTHON=$(find_python) || fail "Python 3.11 or newer not found; install it (e.g. 'apt install python3' or 'brew install python') and re-run"
  HOME_DIR=${K8SCLAW_HOME:-${HOME}/.local/share/k8sclaw}
  LINK="$HOME_DIR/venv"
  pick_bin_dir

  SPEC=k8sclaw
  if [ -n "${K8SCLAW_VERSION:-}" ]; then SPEC="k8sclaw==${K8SCLAW_VERSION#v}"; fi
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

  say "Installing $SPEC with $PYTHON into $LINK"
  mkdir -p "$HOME_DIR"
  SWITCHED=0
  trap cleanup EXIT
  trap 'on_signal 130' INT
  trap 'on_signal 143' TERM
  NEW_DIR=$(mktemp -d "$HOME_DIR/venv.XXXXXX") || fail "could not create a directory in $HOME_DIR"
  # mktemp makes it private (0700); a venv made in place would follow the umask (0755 for
  # most), which others need when the command is linked into /usr/local/bin.
  chmod "$(printf '%o' $((0777 & ~$(umask))))" "$NEW_DIR"
  "$PYTHON" -m venv "$NEW_DIR" || fail "could not create a virtual environment (on Debian/Ubuntu: apt install python3-venv)"
  "$NEW_DIR/bin/python" -m pip install --quiet --disable-pip-version-check "$@" "$SPEC" \
    || fail "pip could not install $SPEC"
  "$NEW_DIR/bin/k8sclaw" version >/dev/null || fail "installed, but 'k8sclaw version' did not run"
  switch_to_new
  trap - EXIT INT TERM

  mkdir -p "$BIN_DIR"
  ln -sf "$LINK/bin/k8sclaw" "$BIN_DIR/k8sclaw"
  "$BIN_DIR/k8sclaw" version >/dev/null || fail "installed, but '$BIN_DIR/k8sclaw version' did not run"

  say "Installed: $("$BIN_DIR/k8sclaw" version)"
  case ":$PATH:" in
    *":$BIN_DIR:"*) ;;
    *) say "Add $BIN_DIR to your PATH:  export PATH=\"$BIN_DIR:\$PATH\"" ;;
  esac
  say "Next: k8sclaw install    (puts the control plane into your current kubectl context)"
}

main "$@"
