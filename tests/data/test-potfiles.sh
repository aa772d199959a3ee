#!/bin/bash
# Every file under src/ and data/ with translatable strings must be listed in
# po/POTFILES.in (or po/POTFILES.skip), and every listed file must exist;
# otherwise its strings silently stay English.
#
#   test-potfiles.sh [SOURCE_ROOT]
set -euo pipefail

root=${1:-${CK_SOURCE_ROOT:?CK_SOURCE_ROOT must name the source tree}}
cd "$root"

listed () {
  # The names in a POTFILES-style file: no comments, no blank lines.
  [ -f "$1" ] || return 0
  sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$1"
}

status=0

while IFS= read -r file; do
  if [ ! -f "$file" ]; then
    echo "po/POTFILES.in lists $file, which does not exist" >&2
    status=1
  fi
done < <(listed po/POTFILES.in)

duplicates=$(listed po/POTFILES.in | sort | uniq -d)
if [ -n "$duplicates" ]; then
  echo "po/POTFILES.in lists more than once: $duplicates" >&2
  status=1
fi

# Marked strings: _("…"), N_(…), C_(…), NC_(…), g_dgettext (…) and friends,
# translatable="yes" in .ui files, gettext-domain in GSettings schemas.
# Desktop files and metainfo are translated whole by i18n.merge_file.
marked=$(
  {
    grep -rlIE \
      '(^|[^A-Za-z0-9_])(N|C|NC|Q)?_ ?\( *"|g_d?n?p?gettext ?\(' src data 2>/dev/null || true
    grep -rlE 'translatable="(yes|true)"|gettext-domain=' src data 2>/dev/null || true
    find src data -type f \( -name '*.desktop.in' -o -name '*.metainfo.xml.in' \
      -o -name '*.appdata.xml.in' \) 2>/dev/null || true
  } | sort -u
)

while IFS= read -r file; do
  [ -n "$file" ] || continue
  if ! { listed po/POTFILES.in; listed po/POTFILES.skip; } | grep -qxF "$file"; then
    echo "$file has translatable strings but is not in po/POTFILES.in" >&2
    status=1
  fi
done <<<"$marked"

if [ $status -eq 0 ]; then
  echo "po/POTFILES.in lists all $(wc -l <<<"$marked") files with translatable strings"
fi
exit $status
