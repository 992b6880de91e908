#!/bin/sh
# Install what Mailstead needs to build, run and test on Debian 12.
# Recommends are not installed, so what a test tool only recommends is
# listed (swaks: libnet-ssleay-perl for --tls, libdigest-hmac-perl for
# CRAM-MD5).
# Runs apt-get as root (directly, or through sudo when not root).
set -eu
pkgs="build-essential autoconf automake pkg-config
 libssl-dev libpq-dev postgresql libcurl4-openssl-dev libjson-c-dev
 libunbound-dev libidn2-dev libpsl-dev libinih-dev libcrypt-dev zlib1g-dev
 libfcgi-dev libmicrohttpd-dev libarchive-dev libcmocka-dev nginx apache2 wrk spawn-fcgi
 dns-root-data publicsuffix systemd
 swaks libnet-ssleay-perl libdigest-hmac-perl python3 curl postfix python3-dkim opendkim-tools isync offlineimap3 mutt nginx
 chromium nodejs"
# npm for the browser tests' playwright-core; a nodejs from elsewhere (e.g.
# NodeSource) ships its own npm and conflicts with Debian's.
command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"
if [ "$(id -u)" -eq 0 ]; then
	as_root=""
elif command -v sudo >/dev/null 2>&1; then
	as_root="sudo"
else
	echo "install-deps-debian.sh: run as root (or install sudo)" >&2
	exit 1
fi
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "install-deps-debian.sh: all packages present"
	exit 0
fi
echo "install-deps-debian.sh: installing$missing"
# Postfix is only a test peer: keep the system instance unconfigured.
case "$missing" in
*postfix*)
	echo "postfix postfix/main_mailer_type select No configuration" |
		$as_root debconf-set-selections ;;
esac
$as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
# shellcheck disable=SC2086
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
