#!/usr/bin/env bash
# generate.sh builds the default IVR prompts in this folder from text:
# <lang>/<name>.wav, 8 kHz mono G.711 mu-law WAV files that package ivr
# embeds in the binary. See README.md for the texts and for how an operator
# replaces them with recordings.
#
# Each prompt is spoken by espeak-ng, then processed by sox at 8 kHz:
# band-limited to 300-3400 Hz, leading and trailing silence trimmed, gently
# compressed, set to an RMS level of -16 dBFS (the speech from first to last
# sound, pauses included) with a limiter for the highest peaks, padded with
# 50 ms of silence at each end, and encoded as mu-law. sox runs with -R (repeatable) and without dither (-D),
# so running this twice gives byte-identical files.
#
# Usage: ./generate.sh        (from anywhere; it writes next to itself)
set -euo pipefail
export LC_ALL=C.UTF-8

OUT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# --- Debian packages, installed only if missing ------------------------------
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
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
}
need_pkgs espeak-ng sox

TMP=$(mktemp -d)
trap 'rm -rf -- "$TMP"' EXIT

SOX=(sox -R -D -V1)          # repeatable, no dither, errors only
ULAW=(-r 8000 -c 1 -e u-law) # the output format
LEVEL=-16                    # target RMS level, dBFS
# Trim: drop leading (then, reversed, trailing) audio until 10 ms lie above
# -50 dBFS; the audio has been peak-normalised to -3 dBFS at that point.
TRIM=(silence 1 0.01 -50d reverse silence 1 0.01 -50d reverse)
# A fast, gentle compressor: espeak-ng's glottal pulses make a crest factor
# of about 18 dB, which would leave the speech near -20 dBFS RMS with peaks
# at -3 dBFS; this brings it to about 13 dB.
COMPAND=(compand 0.001,0.05 4:-60,-50,-30,-19,-15,-11,0,-7)
# After the level is set: a limiter for the few peaks above -4 dBFS.
LIMIT=(compand 0.0005,0.03 2:-4,-4,0,-2.5)

# The languages: espeak-ng voice and speed (words per minute).
declare -A VOICE=([en]=en-us+f3 [de]=de+f2)
declare -A SPEED=([en]=150 [de]=150)

# The texts, one prompt per line: NAME<TAB>TEXT. The names are ivr.PromptNames.
# espeak-ng input: "pin" is lower-case so that English espeak-ng says the word
# rather than spelling P-I-N; German PIN is given as phonemes ([[p'In]], short
# i) because espeak-ng spells it or says "Pien". German digits use "zwo", the
# telephone form of "zwei" (DIN 5009) that cannot be mistaken for "drei".
TEXTS_en=$(
	cat <<'TEXT'
intro	Hello. This is the password reset service.
match	To confirm, enter the number shown on your screen, then press pound.
confirm	To confirm, press pound.
pin	Please enter your pin, followed by pound.
code_intro	To hear your code, press pound.
code_is	Your code is
code_repeat	To hear it again, press star.
not_right	Sorry, that is not right.
try_again	Please try again.
no_input	We did not receive your answer.
confirmed	Thank you. You can continue on your screen.
code_done	Please type the code on your screen.
fraud	Thank you. We have stopped this request and told your security team.
goodbye	Goodbye.
fraud_hint	If you did not request this, press zero.
digit_0	zero
digit_1	one
digit_2	two
digit_3	three
digit_4	four
digit_5	five
digit_6	six
digit_7	seven
digit_8	eight
digit_9	nine
TEXT
)
TEXTS_de=$(
	cat <<'TEXT'
intro	Guten Tag. Hier ist der Dienst zum Zurücksetzen Ihres Passworts.
match	Zur Bestätigung geben Sie die Zahl von Ihrem Bildschirm ein und drücken Sie dann die Raute-Taste.
confirm	Zur Bestätigung drücken Sie die Raute-Taste.
pin	Bitte geben Sie Ihre [[p'In]] ein und drücken Sie dann die Raute-Taste.
code_intro	Um Ihren Code zu hören, drücken Sie die Raute-Taste.
code_is	Ihr Code lautet
code_repeat	Zum Wiederholen drücken Sie die Stern-Taste.
not_right	Das war leider nicht richtig.
try_again	Bitte versuchen Sie es noch einmal.
no_input	Wir haben leider keine Eingabe erhalten.
confirmed	Vielen Dank. Sie können jetzt auf Ihrem Bildschirm fortfahren.
code_done	Bitte geben Sie den Code jetzt auf Ihrem Bildschirm ein.
fraud	Vielen Dank. Wir haben diese Anfrage gestoppt und Ihre Sicherheitsabteilung informiert.
goodbye	Auf Wiederhören.
fraud_hint	Falls Sie das nicht angefordert haben, drücken Sie die Null.
digit_0	null
digit_1	eins
digit_2	zwo
digit_3	drei
digit_4	vier
digit_5	fünf
digit_6	sechs
digit_7	sieben
digit_8	acht
digit_9	neun
TEXT
)

# stat FILE KEY [EFFECT...]: one value ("RMS lev dB", "Pk lev dB") from sox's
# stats effect, run on FILE after the given effects.
stat() {
	local f=$1 k=$2
	shift 2
	sox -V1 "$f" -n "$@" stats 2>&1 | awk -v k="$k" 'index($0, k) == 1 { print $NF }'
}

# prompt LANG NAME TEXT
prompt() {
	local lang=$1 name=$2 text=$3
	local raw=$TMP/$lang-$name.22k.wav mid=$TMP/$lang-$name.8k.wav
	printf '%s\n' "$text" >"$TMP/text"
	espeak-ng -b 1 -v "${VOICE[$lang]}" -s "${SPEED[$lang]}" -f "$TMP/text" -w "$raw"
	"${SOX[@]}" "$raw" -r 8000 -c 1 -b 16 "$mid" \
		rate -v 8000 sinc 300-3400 gain -n -3 "${TRIM[@]}" "${COMPAND[@]}"
	local rms gain
	rms=$(stat "$mid" 'RMS lev dB')
	gain=$(awk -v l="$LEVEL" -v r="$rms" 'BEGIN { printf "%.2f", l - r }')
	"${SOX[@]}" "$mid" "${ULAW[@]}" "$OUT/$lang/$name.wav" gain "$gain" "${LIMIT[@]}" pad 0.05 0.05
}

# All WAVs in the language folders are generated: start from a clean slate.
for lang in en de; do
	mkdir -p "$OUT/$lang"
	rm -f -- "$OUT/$lang"/*.wav
	texts=TEXTS_$lang
	while IFS=$'\t' read -r name text; do
		prompt "$lang" "$name" "$text"
	done <<<"${!texts}"
done

# --- checks and listing ---------------------------------------------------------
# Each file: 8 kHz mono mu-law (WAVE format tag 7); 0.2-6 s long (digits at
# most 1.2 s); RMS within 0.5 dB of LEVEL, measured without the 50 ms pads;
# peak below -0.5 dBFS (no clipping: mu-law's largest code is -0.2 dBFS).
fail=0
printf '%-4s %-12s %7s %8s %8s %7s\n' lang name seconds 'RMS dB' 'peak dB' bytes
for f in "$OUT"/*/*.wav; do
	lang=$(basename "$(dirname "$f")")
	name=$(basename "$f" .wav)
	rate=$(soxi -r "$f") ch=$(soxi -c "$f") secs=$(soxi -D "$f")
	tag=$(od -An -tu2 -j20 -N2 "$f" | tr -d ' ')
	rms=$(stat "$f" 'RMS lev dB' trim 0.05 -0.05) pk=$(stat "$f" 'Pk lev dB')
	bytes=$(wc -c <"$f")
	printf '%-4s %-12s %7.2f %8s %8s %7d\n' "$lang" "$name" "$secs" "$rms" "$pk" "$bytes"
	max=6
	[[ $name == digit_* ]] && max=1.2
	if [[ $rate != 8000 || $ch != 1 || $tag != 7 ]]; then
		echo "BAD FORMAT: $lang/$name.wav rate=$rate channels=$ch format-tag=$tag" >&2
		fail=1
	fi
	if ! awk -v s="$secs" -v m="$max" 'BEGIN { exit !(s >= 0.2 && s <= m) }'; then
		echo "BAD LENGTH: $lang/$name.wav is $secs s (want 0.2-$max s)" >&2
		fail=1
	fi
	if ! awk -v r="$rms" -v p="$pk" -v l="$LEVEL" 'BEGIN { exit !(r >= l - 0.5 && r <= l + 0.5 && p < -0.5) }'; then
		echo "BAD LEVEL: $lang/$name.wav RMS $rms dBFS, peak $pk dBFS (want RMS $LEVEL +-0.5, peak < -0.5)" >&2
		fail=1
	fi
done
((fail == 0)) || exit 1
n=$(ls "$OUT"/*/*.wav | wc -l)
total=$(cat "$OUT"/*/*.wav | wc -c)
echo "made $n prompts, $total bytes, in $OUT"
echo "with $(dpkg-query -W -f='${Package} ${Version}\n' espeak-ng espeak-ng-data sox | paste -sd, - | sed 's/,/, /g')"
