#!/usr/bin/env bash
# Builds the Debian package of a built jobengine binary: OUT/jobengine_VERSION-REV_ARCH.deb, from
# a staging tree filled from packaging/debian/ (make deb; docs/operations.md, "Installing the
# Debian package"). The binary is copied and stripped; the one given is left as it is. Its man
# pages and shell completions come from the binary itself (`jobengine __doc man DIR`,
# `jobengine completion bash|zsh`), so the package documents exactly the binary it carries.
#
#   scripts/build_deb.sh [--bin build/jobengine] [--out DIR (default: the binary's directory)]
#
# Environment: DEB_REVISION (Debian revision, default 1); SOURCE_DATE_EPOCH (time stamps of the
# files and the changelog; default the last commit's time, so the same commit packs the same).
# Prints the path of the package as its last line.
set -euo pipefail

die() {
  echo "build_deb: $*" >&2
  exit 1
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TEMPLATES=$ROOT/packaging/debian
BIN=$ROOT/build/jobengine
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=${2:?--bin FILE}; shift 2 ;;
    --out) OUT=${2:?--out DIR}; shift 2 ;;
    *) echo "usage: build_deb.sh [--bin FILE] [--out DIR]" >&2; exit 2 ;;
  esac
done
[ -x "$BIN" ] || die "no jobengine binary at $BIN (build it first: make build)"
OUT=${OUT:-$(dirname "$BIN")}
for tool in dpkg-deb dpkg-shlibdeps strip gzip; do
  command -v "$tool" >/dev/null || die "$tool is missing (bash scripts/deps.sh installs it)"
done

# --version's first line is "jobengine X.Y.Z"; the lines after it (commit, build) are not ours.
VERSION=$("$BIN" --version | head -n 1 | sed -n 's/^jobengine \([0-9][0-9A-Za-z.+~]*\)$/\1/p')
[ -n "$VERSION" ] || die "cannot read the version from the first line of '$BIN --version'"
DEB_VERSION=$VERSION-${DEB_REVISION:-1}
ARCH=$(dpkg --print-architecture)
# The changelog names the commit the binary says it was built from (its "commit X" line).
COMMIT=$("$BIN" --version | sed -n 's/^commit \([0-9a-f]\{7,\}\(-dirty\)\{0,1\}\)$/\1/p' | head -n 1)
COMMIT=${COMMIT:-unknown}
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH
MAINTAINER="JobEngine maintainers <maintainers@jobengine.invalid>"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/jobengine-deb.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
STAGE=$WORK/root
umask 022

# Man pages and completions first: a binary without them cannot be packaged.
mkdir -p "$STAGE/usr/share/man/man1"
if ! "$BIN" __doc man "$STAGE/usr/share/man/man1" >"$WORK/doc.log" 2>&1; then
  cat "$WORK/doc.log" >&2
  die "$BIN cannot write its man pages ('jobengine __doc man DIR' failed): package a binary built with them"
fi
[ -f "$STAGE/usr/share/man/man1/jobengine.1" ] ||
  die "'jobengine __doc man DIR' wrote no jobengine.1 into DIR"
for shell in bash zsh; do
  if ! "$BIN" completion "$shell" >"$WORK/completion.$shell" 2>"$WORK/doc.log" ||
    [ ! -s "$WORK/completion.$shell" ]; then
    cat "$WORK/doc.log" >&2
    die "$BIN cannot print its $shell completion ('jobengine completion $shell' failed): package a binary built with it"
  fi
done
gzip -9n "$STAGE"/usr/share/man/man1/*.1

install -d "$STAGE/usr/bin" "$STAGE/lib/systemd/system" "$STAGE/etc/jobengine" \
  "$STAGE/usr/share/bash-completion/completions" "$STAGE/usr/share/zsh/vendor-completions" \
  "$STAGE/usr/share/doc/jobengine" "$STAGE/DEBIAN"
# As dh_strip does: no debugging symbols, no .comment or .note sections.
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
  -o "$STAGE/usr/bin/jobengine" "$BIN"
chmod 0755 "$STAGE/usr/bin/jobengine"
install -m 0644 "$TEMPLATES/jobengine.service" "$STAGE/lib/systemd/system/jobengine.service"
install -m 0644 "$TEMPLATES/config.json" "$STAGE/etc/jobengine/config.json"
install -m 0644 "$WORK/completion.bash" "$STAGE/usr/share/bash-completion/completions/jobengine"
install -m 0644 "$WORK/completion.zsh" "$STAGE/usr/share/zsh/vendor-completions/_jobengine"
install -m 0644 "$TEMPLATES/copyright" "$TEMPLATES/README.Debian" "$STAGE/usr/share/doc/jobengine/"
sed -e "s|@VERSION@|$DEB_VERSION|" -e "s|@COMMIT@|commit $COMMIT|" \
  -e "s|@MAINTAINER@|$MAINTAINER|" -e "s|@DATE@|$(date -u -R -d "@$SOURCE_DATE_EPOCH")|" \
  "$TEMPLATES/changelog.in" | gzip -9n >"$STAGE/usr/share/doc/jobengine/changelog.Debian.gz"

# Depends: the libraries the binary links, as dpkg-shlibdeps names their packages (it wants a
# debian/control to read), plus adduser for postinst.
mkdir -p "$WORK/src/debian"
printf 'Source: jobengine\n\nPackage: jobengine\nArchitecture: any\n' >"$WORK/src/debian/control"
SHLIBS=$(cd "$WORK/src" && dpkg-shlibdeps -O "$STAGE/usr/bin/jobengine" 2>"$WORK/shlibdeps.log") ||
  { cat "$WORK/shlibdeps.log" >&2; die "dpkg-shlibdeps failed"; }
DEPENDS=$(printf '%s\n' "$SHLIBS" | sed -n 's/^shlibs:Depends=//p')
[ -n "$DEPENDS" ] || die "dpkg-shlibdeps named no library"
DEPENDS="adduser, $DEPENDS"

install -m 0644 "$TEMPLATES/conffiles" "$STAGE/DEBIAN/conffiles"
install -m 0755 "$TEMPLATES/postinst" "$TEMPLATES/prerm" "$TEMPLATES/postrm" "$STAGE/DEBIAN/"
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
  xargs -0 md5sum) >"$STAGE/DEBIAN/md5sums"
chmod 0644 "$STAGE/DEBIAN/md5sums"
INSTALLED_SIZE=$(du -sk --apparent-size --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s|@VERSION@|$DEB_VERSION|" -e "s|@ARCH@|$ARCH|" -e "s|@MAINTAINER@|$MAINTAINER|" \
  -e "s|@INSTALLED_SIZE@|$INSTALLED_SIZE|" -e "s|@DEPENDS@|$DEPENDS|" \
  "$TEMPLATES/control.in" >"$STAGE/DEBIAN/control"

find "$STAGE" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$OUT"
DEB=$OUT/jobengine_${DEB_VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$DEB" >/dev/null
echo "build_deb: $(du -k "$DEB" | cut -f1) KiB, Depends: $DEPENDS" >&2
echo "$DEB"
