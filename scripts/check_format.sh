#!/bin/bash
# check_format.sh — every C file of the repository is formatted as
# .clang-format says (clang-format 14, Debian 12).
#   scripts/check_format.sh [FILE…]        check; print each offender with
#                                          how many lines it would change;
#                                          exit 1 if any
#   scripts/check_format.sh --fix [FILE…]  format them in place (`make format`)
#   scripts/check_format.sh --list         print the files checked by default
# Default files: every *.c and *.h git knows of or would add (tracked, or
# untracked and not ignored: build/, node_modules/ are ignored), so `make
# format` and `make format-check` always cover the same set.
set -uo pipefail
cd "$(dirname "$0")/.."
CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
mode=check
case ${1:-} in
--fix) mode=fix; shift ;;
--list) mode=list; shift ;;
esac
if [ $# -gt 0 ]; then
    files=("$@")
elif git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h' | sort)
else
    mapfile -t files < <(find . -name '*.[ch]' -not -path './node_modules/*' -not -path './build*' \
        -not -path './.git/*' | sed 's|^\./||' | sort)
fi
if [ "$mode" = list ]; then printf '%s\n' "${files[@]}"; exit 0; fi
command -v "$CLANG_FORMAT" >/dev/null || { echo "$CLANG_FORMAT not found (apt-get install clang-format)"; exit 1; }
# Versions disagree on details: the tree is kept as version 14 writes it.
v=$("$CLANG_FORMAT" --version | grep -oE 'version [0-9]+' | grep -oE '[0-9]+')
[ "$v" = 14 ] || echo "note: $CLANG_FORMAT is version ${v:-?}; the tree follows clang-format 14 (Debian 12)" >&2
if [ "$mode" = fix ]; then
    exec "$CLANG_FORMAT" -i --style=file "${files[@]}"
fi
bad=0 lines=0
for f in "${files[@]}"; do
    if ! "$CLANG_FORMAT" --dry-run --Werror --style=file "$f" >/dev/null 2>&1; then
        n=$("$CLANG_FORMAT" --style=file "$f" | diff "$f" - | grep -c '^[<>]')
        echo "$f: not formatted ($n diff lines; make format)"
        bad=$((bad + 1)) lines=$((lines + n))
    fi
done
[ $bad -eq 0 ] && exit 0
echo "$bad of ${#files[@]} files not formatted ($lines diff lines): make format"
exit 1
