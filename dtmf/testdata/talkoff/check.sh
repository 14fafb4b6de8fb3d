#!/usr/bin/env bash
# check.sh runs two reference DTMF detectors over every WAV in this folder and
# writes DETECTIONS.tsv: how many digits each one reports. None of the files
# contains DTMF, so every reported digit is a false detection ("talk-off").
# The numbers are information about the corpus, not a pass/fail filter.
#
#   multimon-ng  Debian package multimon-ng, -a DTMF, fed 22050 Hz s16 raw
#   spandsp      Debian package libspandsp-dev, dtmf_rx() with its default
#                parameters, fed 8000 Hz s16 in 10 ms blocks (a tiny C driver
#                is compiled into a temporary folder)
#
# Before the corpus, both detectors get a positive control (synthetic DTMF
# "159D#", 100 ms on / 100 ms off at -10 dBFS per tone) so that a zero below
# means "not fooled" rather than "not working".
set -euo pipefail
export LC_ALL=C.UTF-8

DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

need_pkgs() {
	local p missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	((${#missing[@]} == 0)) && return 0
	local sudo=()
	if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
	echo "installing: ${missing[*]}" >&2
	"${sudo[@]}" apt-get update -q
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${missing[@]}"
}
need_pkgs sox multimon-ng libspandsp-dev gcc libc6-dev pkg-config

TMP=$(mktemp -d)
trap 'rm -rf -- "$TMP"' EXIT

cat >"$TMP/spandsp_dtmf.c" <<'EOF'
/* Reads 8 kHz signed 16-bit native-endian PCM on stdin, runs spandsp's
   DTMF receiver with default parameters, prints "digit@seconds" tokens. */
#include <stdint.h>
#include <stdio.h>
#include <spandsp.h>

static long consumed;
static int reported;

static void on_digits(void *user_data, const char *digits, int len)
{
    (void) user_data;
    for (int i = 0; i < len; i++)
        printf("%s%c@%.2f", reported++ ? " " : "", digits[i], consumed / 8000.0);
}

int main(void)
{
    int16_t buf[80];
    size_t n;
    dtmf_rx_state_t *rx = dtmf_rx_init(NULL, on_digits, NULL);

    if (rx == NULL)
        return 1;
    while ((n = fread(buf, sizeof buf[0], sizeof buf / sizeof buf[0], stdin)) > 0) {
        dtmf_rx(rx, buf, (int) n);
        consumed += (long) n;
    }
    printf("\n");
    dtmf_rx_free(rx);
    return 0;
}
EOF
# shellcheck disable=SC2046
gcc -O2 -std=c99 -o "$TMP/spandsp_dtmf" "$TMP/spandsp_dtmf.c" $(pkg-config --cflags --libs spandsp)

multimon() { # FILE -> digits, one per line
	sox -V1 "$1" -t raw -r 22050 -e signed-integer -b 16 -c 1 - |
		multimon-ng -q -a DTMF -t raw - 2>/dev/null | sed -n 's/^DTMF: *//p'
}
spandsp() { # FILE -> "digit@seconds ..." on one line
	sox -V1 "$1" -t raw -r 8000 -e signed-integer -b 16 -c 1 - | "$TMP/spandsp_dtmf"
}

# Positive control.
ctl=()
for k in 697:1209 770:1336 852:1477 941:1633 941:1477; do
	ctl+=(synth 0.1 sine "${k%:*}" sine "${k#*:}" remix 1v0.316,2v0.316 : synth 0.1 sine 0 sine 0 remix - :)
done
ctl+=(synth 0.3 sine 0 sine 0 remix -)
sox -V1 -R -D -r 8000 -c 2 -n -r 8000 -c 1 -e u-law "$TMP/control.wav" "${ctl[@]}"
mm_ctl=$(multimon "$TMP/control.wav" | tr -d '\n')
sd_ctl=$(spandsp "$TMP/control.wav" | sed 's/@[0-9.]*//g; s/ //g')
echo "positive control (expect 159D#): multimon-ng=$mm_ctl spandsp=$sd_ctl"
if [[ $mm_ctl != 159D# || $sd_ctl != 159D# ]]; then
	echo "positive control failed: a reference detector is not working" >&2
	exit 1
fi

{
	printf 'file\tmultimon_ng\tmultimon_ng_digits\tspandsp\tspandsp_digits_at_seconds\n'
	for f in "$DIR"/*.wav; do
		mm=$(multimon "$f" | tr -d '\n')
		sd=$(spandsp "$f")
		read -ra sdw <<<"$sd"
		printf '%s\t%d\t%s\t%d\t%s\n' "$(basename "$f")" "${#mm}" "${mm:--}" "${#sdw[@]}" "${sd:--}"
	done
} >"$DIR/DETECTIONS.tsv"

column -t -s $'\t' "$DIR/DETECTIONS.tsv" | cut -c1-160
awk -F'\t' 'NR > 1 { m += $2; s += $4; if ($2 || $4) n++ }
	END { printf "false digits: multimon-ng %d, spandsp %d; files fooling at least one: %d of %d\n", m, s, n, NR - 1 }' \
	"$DIR/DETECTIONS.tsv"
echo "multimon-ng $(dpkg-query -W -f='${Version}' multimon-ng), libspandsp $(dpkg-query -W -f='${Version}' libspandsp-dev), sox $(dpkg-query -W -f='${Version}' sox)"
