# Sourced by tests that need "the browser": ck_fake_browser FILE makes the
# default http(s) handler of this HOME a script that only appends the
# address it is given to FILE, so that the test decides what happens. The
# agent, started inside the same session, reads the same HOME.
#
# SPDX-License-Identifier: GPL-3.0-or-later

ck_fake_browser () {
  local urls=$1 browser=$CK_TEST_ROOT/fake-browser
  cat >"$browser" <<BROWSER
#!/bin/sh
printf '%s\n' "\$1" >>"$urls"
BROWSER
  chmod +x "$browser"
  mkdir -p "$XDG_DATA_HOME/applications" "$XDG_CONFIG_HOME"
  cat >"$XDG_DATA_HOME/applications/ck-fake-browser.desktop" <<DESKTOP
[Desktop Entry]
Type=Application
Name=Fake Browser
Exec=$browser %u
MimeType=x-scheme-handler/http;x-scheme-handler/https;
DESKTOP
  cat >"$XDG_CONFIG_HOME/mimeapps.list" <<MIME
[Default Applications]
x-scheme-handler/http=ck-fake-browser.desktop
x-scheme-handler/https=ck-fake-browser.desktop
MIME
}
