#!/usr/bin/env bash
# cmake/lint-format.sh -- check that C files match .clang-format; names each file that does not.
# Run by the `lint` build target and the `lint_format` ctest test (cmake/InquestLint.cmake),
# from the source directory so that clang-format finds .clang-format.
#
# Usage: lint-format.sh [--clang-format PATH] FILE...
# Exit status: 0 all formatted, 1 some file is not, 2 clang-format missing or bad usage.

set -euo pipefail

clang_format=""
if [[ "${1:-}" == "--clang-format" ]]; then
    [[ $# -ge 2 ]] || { echo "lint-format: --clang-format needs a path" >&2; exit 2; }
    clang_format="$2"
    shift 2
fi
# CMake passes <VAR>-NOTFOUND when find_program found nothing at configure time.
if [[ -z "$clang_format" || "$clang_format" == *-NOTFOUND ]]; then
    clang_format=$(command -v clang-format || true)
fi
if [[ -z "$clang_format" || ! -x "$clang_format" ]]; then
    echo "lint-format: clang-format is not installed: run scripts/install-deps" \
        "(or apt-get install clang-format), then re-run cmake" >&2
    exit 2
fi

if [[ $# -eq 0 ]]; then
    echo "lint-format: no C files to check"
    exit 0
fi

# Fast path: one clang-format process for every file.
if "$clang_format" --style=file --dry-run --Werror "$@" >/dev/null 2>&1; then
    echo "lint-format: $# files formatted"
    exit 0
fi

# Something failed: find out which files, and show the start of each diff so that a CI log is
# enough to see what is wrong.
bad=0
for f in "$@"; do
    if [[ ! -f "$f" ]]; then
        echo "lint-format: $f: no such file (re-run cmake to refresh the file list)" >&2
        bad=$((bad + 1))
        continue
    fi
    if ! "$clang_format" --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then
        bad=$((bad + 1))
        echo "lint-format: $f is not formatted; fix with: clang-format -i $f"
        "$clang_format" --style=file "$f" | diff -u --label "$f" --label "$f (formatted)" "$f" - |
            head -n 20 | sed 's/^/    /' || true
    fi
done
if ((bad == 0)); then
    # The batch run failed but no single file does: report clang-format's own message.
    "$clang_format" --style=file --dry-run --Werror "$@" >&2 || true
    echo "lint-format: clang-format failed" >&2
    exit 2
fi
echo "lint-format: $bad of $# files not formatted"
exit 1
