#!/bin/sh
#
# make-distinfo.sh: build jocker's sdist and write the port's distinfo.
#
# distinfo is not committed: its SHA256 and SIZE describe one particular
# jocker-<version>.tar.gz, and an sdist built from the same tree at another
# time differs (timestamps inside the archive). At release time, run this
# script, upload exactly the tarball it kept (-d) to PyPI, and commit the
# distinfo it wrote together with the port; in the ports tree the same file
# is what `make makesum` would produce from the uploaded tarball.
#
# usage: make-distinfo.sh [-d DISTDIR] [-o DISTINFO]
#   -d DISTDIR   keep the sdist in DISTDIR (default: a temporary directory,
#                removed afterwards)
#   -o DISTINFO  where to write distinfo (default: next to this script)
#
# The sdist comes from `python -m build --sdist` when the build module is
# installed, else from `python setup.py sdist`. PYTHON picks the interpreter
# (default python3).

set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "${here}/../../.." && pwd)
python=${PYTHON:-python3}
distdir=
out="${here}/distinfo"

while getopts d:o: opt; do
	case ${opt} in
	d) distdir=${OPTARG} ;;
	o) out=${OPTARG} ;;
	*) echo "usage: $0 [-d DISTDIR] [-o DISTINFO]" >&2; exit 2 ;;
	esac
done

version=$(cd "${top}" && "${python}" -c 'import jocker; print(jocker.__version__)')
portversion=$(sed -n 's/^DISTVERSION=[[:space:]]*//p' "${here}/Makefile")
if [ "${version}" != "${portversion}" ]; then
	echo "$0: jocker is ${version} but the port's DISTVERSION is ${portversion}" >&2
	exit 1
fi

tmp=$(mktemp -d)     # a fresh scratch directory for the sdist
trap 'rm -rf "${tmp}"' EXIT
if [ -z "${distdir}" ]; then
	distdir="${tmp}/dist"
fi
mkdir -p "${distdir}"

# Build from a copy so the checkout gets no build/ or *.egg-info debris.
(cd "${top}" && tar -cf - --exclude .git --exclude '*.egg-info' --exclude build \
    --exclude dist --exclude __pycache__ --exclude .pytest_cache .) | (cd "${tmp}" &&
    mkdir src && cd src && tar -xf -)
if (cd "${tmp}/src" && "${python}" -c 'import build' 2>/dev/null); then
	(cd "${tmp}/src" && "${python}" -m build --sdist --outdir "${distdir}" >/dev/null)
else
	(cd "${tmp}/src" && "${python}" setup.py -q sdist --dist-dir "${distdir}" >/dev/null 2>&1)
fi

file="jocker-${version}.tar.gz"
if [ ! -f "${distdir}/${file}" ]; then
	echo "$0: the sdist build did not produce ${file}" >&2
	exit 1
fi

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
echo "wrote ${out} for ${distdir}/${file}"
