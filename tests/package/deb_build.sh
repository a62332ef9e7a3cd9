#!/usr/bin/env bash
# scripts/deb.sh (what `make deb` runs) on this build: the package holds the
# CLI, libpyro, its header and libpyro.pc, pyro-agent, the man page and the
# three completions and declares its dependencies (lintian runs in
# deb_install.sh: it takes minutes here).
source "$PYRO_SOURCE_DIR/tests/integration/lib.sh"
command -v dpkg-deb >/dev/null && command -v fakeroot >/dev/null || skip "dpkg-deb and fakeroot are needed"
deb=$("$PYRO_SOURCE_DIR/scripts/deb.sh" "$PYRO_BUILD_DIR" "$TEST_TMP")
[ -f "$deb" ] || fail "no package: $deb"
files=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/pyro ./usr/libexec/pyro/pyro-agent ./usr/lib/libpyro.so.0 ./usr/include/pyro/pyro.h \
  ./usr/lib/pkgconfig/libpyro.pc ./usr/share/man/man1/pyro.1.gz ./usr/share/bash-completion/completions/pyro \
  ./usr/share/zsh/vendor-completions/_pyro ./usr/share/fish/vendor_completions.d/pyro.fish \
  ./usr/share/doc/pyro/copyright; do
  grep -qxF "$f" <<<"$files" || fail "$f missing from the package"
done
dep=$(dpkg-deb -f "$deb" Depends)
for d in libc6 libjansson4 libseccomp2 libarchive13 libmicrohttpd12 mmdebstrap e2fsprogs; do
  grep -q "\b$d\b" <<<"$dep" || fail "Depends lacks $d: $dep"
done
ok "package: files and Depends ($dep)"
