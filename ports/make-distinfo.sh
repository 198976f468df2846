#!/bin/sh
#
# make-distinfo.sh: write ports/sysutils/jocker/distinfo for a release.
#
# The port fetches the project's own release tarball from GitHub
# (USE_GITHUB, GH_ACCOUNT in the port's Makefile, the one place the account
# is named). GitHub serves `git archive` of the tag with the prefix
# PORTNAME-DISTVERSION/ (the tag's leading "v" dropped), gzipped by git
# itself; this script makes the same tarball from a local ref, so its
# SHA256 and SIZE are what `make makesum` computes from the download.
# The committed distinfo was made from the tree before its own commit, so
# it is a placeholder of the right form: regenerate it from the release tag
# when the release is cut (and check it with `make makesum` once the tag is
# on GitHub) [U: GitHub's archives are byte-stable since 2023].
#
# usage: make-distinfo.sh [-r REF] [-d DISTDIR] [-o DISTINFO]
#   -r REF       what to archive (default: the tag vDISTVERSION if it exists,
#                else HEAD)
#   -d DISTDIR   keep the tarball there (default: a temporary directory)
#   -o DISTINFO  where to write distinfo (default: the port's distinfo)
#
# GIT picks the git binary (default git).

set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "${here}/.." && pwd)
port="${here}/sysutils/jocker"
git=${GIT:-git}
ref=
distdir=
out="${port}/distinfo"

while getopts r:d:o: opt; do
	case ${opt} in
	r) ref=${OPTARG} ;;
	d) distdir=${OPTARG} ;;
	o) out=${OPTARG} ;;
	*) echo "usage: $0 [-r REF] [-d DISTDIR] [-o DISTINFO]" >&2; exit 2 ;;
	esac
done

var() { sed -n "s/^$1=[[:space:]]*//p" "${port}/Makefile"; }
portname=$(var PORTNAME)
prefix=$(var DISTVERSIONPREFIX)
version=$(var DISTVERSION)
account=$(var GH_ACCOUNT)
pyversion=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "${top}/jocker/__init__.py")
if [ "${version}" != "${pyversion}" ]; then
	echo "$0: jocker is ${pyversion} but the port's DISTVERSION is ${version}" >&2
	exit 1
fi

tag="${prefix}${version}"
if [ -z "${ref}" ]; then
	if "${git}" -C "${top}" rev-parse -q --verify "refs/tags/${tag}" >/dev/null; then
		ref=${tag}
	else
		ref=HEAD
	fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "${tmp}"' EXIT
[ -n "${distdir}" ] || distdir="${tmp}"
mkdir -p "${distdir}"

# bsd.sites.mk: DISTNAME ${GH_ACCOUNT}-${GH_PROJECT}-${GH_TAGNAME}, suffix _GH0
file="${account}-${portname}-${tag}_GH0.tar.gz"
"${git}" -C "${top}" archive --format=tar.gz --prefix="${portname}-${version}/" \
    -o "${distdir}/${file}" "${ref}"

if command -v sha256 >/dev/null 2>&1; then
	sum=$(sha256 -q "${distdir}/${file}")               # FreeBSD
else
	sum=$(sha256sum "${distdir}/${file}" | cut -d ' ' -f 1)
fi
size=$(wc -c < "${distdir}/${file}" | tr -d ' ')

{
	echo "TIMESTAMP = $(date +%s)"
	echo "SHA256 (${file}) = ${sum}"
	echo "SIZE (${file}) = ${size}"
} > "${out}"
echo "wrote ${out} for ${distdir}/${file} (git archive of ${ref})"
