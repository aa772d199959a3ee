# Sourced by build-aux/setup and build-aux/test: installs what is missing,
# from Debian 12's packages and the npm registry only, quietly.

build_packages=(
  meson ninja-build pkg-config gcc
  libglib2.0-dev libglib2.0-dev-bin libglib2.0-bin
  libsoup-3.0-dev libjson-glib-dev libsecret-1-dev
  libgtk-4-dev libadwaita-1-dev
  gettext desktop-file-utils appstream librsvg2-common
)
runtime_packages=(gnome-keyring dbus dbus-user-session librsvg2-common)
test_packages=(
  gnome-keyring libsecret-tools dbus dbus-x11 xvfb xauth bubblewrap
  python3 python3-dbus util-linux procps strace nodejs
  man-db groff-base bash-completion zsh fish flatpak-builder
  xdotool imagemagick haskell-gtk-sni-tray-utils
  openssh-server openssh-client tmux
)

ck_missing_packages () {
  local missing=() package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$package")
  done
  echo "${missing[@]}"
}

ck_install_packages () {
  local missing sudo=()
  missing=$(ck_missing_packages "$@")
  [ -z "$missing" ] && return 0
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "Installing Debian packages: $missing" >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  # shellcheck disable=SC2086
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends $missing >/dev/null
  # npm ships separately in Debian 12 unless nodejs came from elsewhere.
  if ! command -v npm >/dev/null; then
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends npm >/dev/null
  fi
}

# npm packages the tests use, each pinned by its package-lock.json.
ck_install_npm () {
  local dir
  for dir in tests/support/oidc tests/support/claude; do
    [ -f "$dir/package-lock.json" ] || continue
    if [ ! -d "$dir/node_modules" ] ||
       [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
      echo "Installing npm packages in $dir" >&2
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
        echo "warning: npm ci failed in $dir; the tests that need it will be skipped" >&2
    fi
  done
}
