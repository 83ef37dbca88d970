#!/bin/sh
# install-rules.sh SRC DEST: the default rule files of SRC (*.conf) into
# the rules directory DEST, for `make install`.
#
# A fresh DEST, or one holding only unchanged default files, gets the
# missing files as they are.  A customised DEST (a .conf file that is
# not the default of the same name, or has none) is never mixed into:
# each default file that is not already there unchanged is installed as
# NAME.conf.dist beside it (dunnd reads only *.conf), and this is said.
set -e
src=$1
dest=$2
customised=no
for t in "$dest"/*.conf; do
	[ -e "$t" ] || continue
	f=$src/${t##*/}
	if [ ! -e "$f" ] || ! cmp -s "$f" "$t"; then
		customised=yes
		break
	fi
done
dist=0
for f in "$src"/*.conf; do
	t=$dest/${f##*/}
	if [ -e "$t" ] && cmp -s "$f" "$t"; then
		continue
	fi
	if [ "$customised" = no ]; then
		install -m 0644 "$f" "$t"
		continue
	fi
	install -m 0644 "$f" "$t.dist"
	echo "install: $t.dist: new default rules beside the customised ones"
	dist=$((dist + 1))
done
if [ "$dist" -gt 0 ]; then
	echo "install: $dest is customised: $dist default rule file(s) installed as .dist beside it, not read by dunnd; merge them by hand (dunnctl check-rules, simulate)"
fi
