#!/usr/bin/env bash
# generate.sh builds the DTMF talk-off corpus in this folder: 8 kHz mono
# mu-law WAV files that contain no DTMF digit but do contain the kind of
# audio that makes DTMF detectors report false digits (speech, music,
# single tones, call-progress tones). See README.md.
#
# Everything is synthesised here (espeak-ng for speech, sox synth for music
# and tones) from fixed texts and fixed parameters; sox runs with -R so its
# noise generator is seeded with a fixed value, and without dither (-D).
# Running it twice gives byte-identical files.
#
# Usage: ./generate.sh        (from anywhere; it writes next to itself)
set -euo pipefail
shopt -s lastpipe # "score | music ..." runs music in this shell, so DESC sticks
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
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${missing[@]}"
}
need_pkgs espeak-ng sox

TMP=$(mktemp -d)
trap 'rm -rf -- "$TMP"' EXIT

SOX=(sox -R -D -V1)   # repeatable random numbers, no dither, errors only
ULAW=(-r 8000 -c 1 -e u-law)

# All WAVs in this folder are generated: start from a clean slate.
rm -f -- "$OUT"/*.wav "$OUT/MANIFEST.tsv"

declare -A DESC
describe() { DESC[$1]=$2; }

# --- speech -------------------------------------------------------------------
# speech NAME VOICE SPEED PITCH TEXT DESCRIPTION [sox effects at 8 kHz...]
# Renders text $TMP/TEXT.txt with espeak-ng (22050 Hz), then resamples to
# 8 kHz mu-law, applying the given effects (default: peak-normalise to -3 dBFS).
speech() {
	local name=$1 voice=$2 speed=$3 pitch=$4 text=$5 desc=$6
	shift 6
	local fx=("$@")
	((${#fx[@]})) || fx=(gain -n -3)
	espeak-ng -b 1 -v "$voice" -s "$speed" -p "$pitch" -f "$TMP/$text.txt" -w "$TMP/$name.22k.wav"
	"${SOX[@]}" "$TMP/$name.22k.wav" "${ULAW[@]}" "$OUT/$name.wav" rate -v 8000 "${fx[@]}"
	describe "$name" "$desc (espeak-ng -v $voice -s $speed -p $pitch)"
}

# phone NAME VOICE SPEED PITCH TEXT PEAK_DBFS NOISE_VOL DESCRIPTION
# Telephone-like speech: optional white noise (NOISE_VOL is the sox vol of a
# full-scale whitenoise, 0 for none) added at 8 kHz, then band-limited to
# 300-3400 Hz and peak-normalised to PEAK_DBFS.
phone() {
	local name=$1 voice=$2 speed=$3 pitch=$4 text=$5 peak=$6 noise=$7 desc=$8
	espeak-ng -b 1 -v "$voice" -s "$speed" -p "$pitch" -f "$TMP/$text.txt" -w "$TMP/$name.22k.wav"
	"${SOX[@]}" "$TMP/$name.22k.wav" -r 8000 -c 1 -b 16 "$TMP/$name.8k.wav" rate -v 8000 gain -n -1
	local src=$TMP/$name.8k.wav
	if [[ $noise != 0 ]]; then
		local dur
		dur=$(soxi -D "$src")
		"${SOX[@]}" -n -r 8000 -c 1 -b 16 "$TMP/$name.noise.wav" synth "$dur" whitenoise vol "$noise"
		"${SOX[@]}" -m -v 1 "$src" -v 1 "$TMP/$name.noise.wav" -b 16 "$TMP/$name.mix.wav"
		src=$TMP/$name.mix.wav
		desc+=", white noise (sox whitenoise vol $noise)"
	fi
	"${SOX[@]}" "$src" "${ULAW[@]}" "$OUT/$name.wav" sinc 300-3400 gain -n "$peak"
	describe "$name" "$desc, band-limited 300-3400 Hz, peak $peak dBFS (espeak-ng -v $voice -s $speed -p $pitch)"
}

# Texts: written for this corpus. Digits are written both as figures (read
# out as numbers or digit by digit) and as words.
cat >"$TMP/en_service.txt" <<'EOF'
Good morning, and thank you for calling the service desk. Your call may be recorded for training purposes.
If you are calling about a forgotten password, please have your employee number ready. It is the seven digit
number printed on the back of your badge, for example 4 0 7 1 9 3 2. Our opening hours are from eight thirty
in the morning until six in the evening, Monday to Friday, and from nine until one on Saturdays. The average
waiting time right now is about 3 minutes. Did you know that you can also reset your password online at any
time? Just visit the self service portal and follow the five simple steps. You will need your badge, your
mobile phone, and about two minutes of your time. Please stay on the line.
EOF

cat >"$TMP/en_traffic.txt" <<'EOF'
Here is the traffic and weather update for a quarter past the hour. On the northern ring road there is a queue
of almost 6 kilometres between junction 14 and junction 17, after a lorry lost part of its load of oranges.
Drivers heading towards the airport should allow an extra twenty five minutes. The bridge on Mill Street will
be closed from ten tonight until five tomorrow morning for repairs, and the diversion adds roughly 2 miles to
your route. Trains on line 3 are running every twelve minutes instead of every eight, because of a signal fault
near Harbour Park station. As for the weather, expect a dry but cloudy start, with temperatures of around
9 degrees, climbing to 16 by the middle of the afternoon. Light rain will arrive from the west after 7 o'clock
this evening, and the wind will pick up to forty kilometres per hour along the coast. Tomorrow looks brighter,
with sunny spells and a high of 18. That was the update. The next one is at a quarter to.
EOF

cat >"$TMP/en_readback.txt" <<'EOF'
Let me read that reference back to you, slowly, so that you can check it. The case number is 2 5 8, 0 6 9,
1 4 7, 3. The amount we received was one hundred and twelve dollars and forty cents, paid on the twenty first
of March. Your new temporary code is nine, nine, three, six, zero, eight. Please write it down now. It expires
in fifteen minutes, so if it does not work, just call us again and ask for a new one. Is there anything else I
can help you with today? Wonderful. Have a lovely afternoon, and goodbye.
EOF

cat >"$TMP/en_story.txt" <<'EOF'
Once upon a time, in a small village by the sea, there lived an old clockmaker who owned exactly thirty three
clocks. Every evening at six, he wound them one by one, humming a little tune. One stormy night, the largest
clock stopped at a quarter to midnight, and nobody in the village could explain why.
EOF

cat >"$TMP/de_service.txt" <<'EOF'
Guten Tag und herzlich willkommen beim Kundenservice. Bitte halten Sie Ihre Kundennummer bereit. Sie besteht
aus acht Ziffern, zum Beispiel 3 7 0 4 1 9 5 2. Unsere Telefonzeiten sind montags bis freitags von acht bis
achtzehn Uhr. Wenn Sie Ihr Passwort vergessen haben, können Sie es auch rund um die Uhr im Internet
zurücksetzen. Heute ist es in Hamburg bewölkt, mit einzelnen Schauern und Temperaturen um zwölf Grad. Morgen
wird es sonniger, und am Wochenende steigen die Werte auf bis zu einundzwanzig Grad. Vielen Dank für Ihre
Geduld, der nächste freie Mitarbeiter ist gleich für Sie da.
EOF

cat >"$TMP/fr_service.txt" <<'EOF'
Bonjour et bienvenue. Votre appel est important pour nous. Pour des raisons de sécurité, nous allons vous
demander votre date de naissance, par exemple le 14 juillet 1987, puis les quatre derniers chiffres de votre
numéro de contrat. Le temps d'attente estimé est de deux minutes et trente secondes. Saviez-vous que le petit
marché du samedi, sur la place de l'église, propose désormais plus de quarante variétés de fromages et une
vingtaine de sortes de pain ? Les prix commencent à 3 euros 50. Ce soir, il fera doux sur toute la côte, avec
19 degrés à Marseille et 17 à Nice. Merci de patienter, un conseiller va vous répondre.
EOF

cat >"$TMP/es_service.txt" <<'EOF'
Buenas tardes. Le habla el servicio de atención al cliente. Antes de continuar, necesitamos confirmar su
identidad. Por favor, diga despacio su número de documento, por ejemplo 4 8 2 7 1 6 0 5. Gracias. Según
nuestros registros, su última factura fue de ochenta y seis euros con veinte céntimos, y vence el día 30 de
este mes. Si desea cambiar su contraseña, le enviaremos un código de seis cifras por mensaje de texto. El
código caduca a los diez minutos. Mientras tanto, le recordamos que nuestras oficinas abren de nueve a dos y
de cinco a ocho, de lunes a viernes. El sábado solo abrimos por la mañana. Mañana se esperan lluvias en el
norte y hasta 28 grados en Sevilla.
EOF

cat >"$TMP/it_station.txt" <<'EOF'
Buongiorno a tutti e benvenuti alla piccola stazione di montagna. Il treno regionale delle 7 e 45 per Bolzano
viaggia con circa dieci minuti di ritardo. Il treno successivo partirà dal binario 3 alle otto e venti.
Ricordiamo ai signori viaggiatori che il biglietto deve essere convalidato prima della partenza. Oggi in valle
il cielo sarà sereno, con una temperatura massima di 23 gradi, mentre in quota non si superano i dieci. Il
rifugio al lago è aperto dalle nove alle diciassette, e il sentiero numero 12 è di nuovo percorribile dopo la
frana di aprile. Buona giornata e buon viaggio.
EOF

cat >"$TMP/en_caller.txt" <<'EOF'
Hi, yes, hello, I'm calling because I'm locked out of my account again. My username is j dot martinez, and my
employee number is 6 1 3 9 0 4 7. I tried to reset it this morning, maybe three or four times, and then it said
the account was blocked. I'm working from home today, so my extension is not available, but you can call me back
on 0 7 7 0 0, 9 0 0, 4 6 1. The last password I remember had a 2 and a 9 at the end. Sorry, it's a bit noisy
here. Thanks for your help.
EOF

cat >"$TMP/en_meeting.txt" <<'EOF'
Right, so the quarterly numbers look better than we expected. Sales in the north went up by eleven percent,
the south stayed flat at about 2.4 million, and online orders nearly doubled. We had one hundred and seventy
new customers in September alone. The warehouse move is still planned for the 3rd of November, and the team of
14 will work in two shifts of six hours. If anybody has questions, send them to me before Friday at noon and I
will collect them for Monday's meeting. Okay, I think that's everything. Let's take a short break and meet
again at quarter past.
EOF

cat >"$TMP/nl_helpdesk.txt" <<'EOF'
Goedemiddag, u spreekt met de helpdesk. Mag ik uw personeelsnummer, alstublieft? Dat zijn zeven cijfers,
bijvoorbeeld 5 2 8 0 3 6 1. Dank u wel. Ik zie dat uw wachtwoord drie dagen geleden is verlopen. U krijgt zo
meteen een sms met een code van zes cijfers. Die code is vijftien minuten geldig. Vandaag is het in Utrecht
twaalf graden met af en toe een bui, en morgen wordt het droog en zonnig met ongeveer achttien graden. Kan ik
u verder nog ergens mee helpen? Fijne dag nog.
EOF

speech speech-en-us-m-normal en-us 165 50 en_service "English (US), male, normal speed, IVR announcement with digits"
speech speech-en-f3-fast en+f3 230 70 en_traffic "English, female f3, fast, traffic and weather report with numbers"
speech speech-en-us-f4-highpitch en-us+f4 150 99 en_readback "English (US), female f4, maximum pitch, reference numbers read digit by digit"
speech speech-en-gb-f5-slow-highpitch en-gb+f5 100 90 en_story "English (GB), female f5, slow, high pitch, short story"
speech speech-de-f2-highpitch de+f2 130 85 de_service "German, female f2, slowish, high pitch, service announcement with digits"
speech speech-fr-f4-highpitch fr-fr+f4 180 80 fr_service "French, female f4, high pitch, service announcement with dates and prices"
speech speech-es-m3-fast es+m3 210 40 es_service "Spanish, male m3, fast, low pitch, service dialogue with digits"
speech speech-it-f1-highpitch it+f1 170 95 it_station "Italian, female f1, very high pitch, station announcement with times"
phone speech-phone-en-us-f3-noise en-us+f3 175 80 en_caller -6 0.02 "Telephone-like: English (US), female f3, caller giving numbers"
phone speech-phone-en-gb-m-quiet en-gb 190 60 en_meeting -30 0 "Telephone-like, very quiet: English (GB), male, meeting summary with figures"
phone speech-phone-nl-f4-noise nl+f4 120 90 nl_helpdesk -18 0.04 "Telephone-like: Dutch, female f4, slow, high pitch, helpdesk dialogue with digits"

# --- music --------------------------------------------------------------------
# Scores are lines "DURATION TYPE:NOTE [TYPE:NOTE ...]" (up to $VOICES
# simultaneous voices; "rest" for silence). sox synth renders each line as one
# effects chain at 48 kHz (so the harmonics of square and sawtooth waves alias
# little), the voices mixed with equal weight; the chains are concatenated.
VOICES=4

# mel DUR TYPE "ACCOMPANIMENT" NOTE... : a melody line over held accompaniment.
# A note "-" is accompaniment only; "N*k" lasts k times DUR.
mel() {
	local d=$1 t=$2 acc=$3 n k
	shift 3
	for n; do
		k=1
		if [[ $n == *'*'* ]]; then k=${n#*\*} n=${n%\**}; fi
		local dd
		dd=$(awk -v d="$d" -v k="$k" 'BEGIN { printf "%g", d * k }')
		if [[ $n == - ]]; then
			echo "$dd ${acc:-rest}"
		else
			echo "$dd $t:$n $acc"
		fi
	done
}

# chord DUR TYPE NOTE... : the notes together, all with one timbre.
chord() {
	local d=$1 t=$2 n s=()
	shift 2
	for n; do s+=("$t:$n"); done
	echo "$d ${s[*]}"
}

# arp DUR TYPE BASS "N1 N2 N3 N4" : up-and-down arpeggio, bass with the first note.
arp() {
	local d=$1 t=$2 bass=$3 ns
	read -ra ns <<<"$4"
	echo "$d $t:${ns[0]} $t:$bass"
	echo "$d $t:${ns[1]}"
	echo "$d $t:${ns[2]}"
	echo "$d $t:${ns[3]}"
	echo "$d $t:${ns[2]}"
	echo "$d $t:${ns[1]}"
}

# music NAME DESCRIPTION [sox effects at 48 kHz...] < score
music() {
	local name=$1 desc=$2 dur spec v i args=()
	shift 2
	while read -r dur spec; do
		[[ -z $dur || $dur == '#'* ]] && continue
		((${#args[@]} == 0)) || args+=(:)
		args+=(synth "$dur")
		i=0
		if [[ $spec != rest ]]; then
			for v in $spec; do
				args+=("${v%%:*}" "${v#*:}")
				i=$((i + 1))
			done
		fi
		for (( ; i < VOICES; i++)); do args+=(sine 0); done
		args+=(remix - fade q 0.005 "$dur" 0.03)
	done
	"${SOX[@]}" -r 48000 -c "$VOICES" -n -r 48000 -c 1 -b 16 "$TMP/$name.48k.wav" "${args[@]}"
	"${SOX[@]}" "$TMP/$name.48k.wav" "${ULAW[@]}" "$OUT/$name.wav" "$@" gain -6 rate -v 8000 gain -n -3
	describe "$name" "$desc"
}

# Equal-tempered notes near DTMF frequencies used below: F5 698.5 (697),
# G5 784.0 (770), G#5 830.6 / A5 880.0 (852), A#5 932.3 (941), D6 1174.7 /
# D#6 1244.5 (1209), E6 1318.5 (1336), F#6 1480.0 (1477), G#6 1661.2 (1633).
# They appear as square/sawtooth/pluck/triangle timbres, never as two pure
# sines; near-low-group and near-high-group notes sound together only inside
# chords of three or more harmonically rich voices.

{
	e=0.25
	mel $e square "sawtooth:F3 sawtooth:A4" F5 G5 A5 Bb5 C6 Bb5 A5 G5
	mel $e square "sawtooth:Bb2 sawtooth:D5" F5 - Bb5 D6 F6 D6 Bb5 -
	mel $e square "sawtooth:C3 sawtooth:E4" E6 D6 C6 Bb5 G5 E5 G5 C6
	mel $e square "sawtooth:F3 sawtooth:C5" F5 A5 C6 F6 E6 F#6 G6 F#6
	mel $e square "sawtooth:D3 sawtooth:F#4" F#5 A5 D6 F#6 A6 F#6 D6 A5
	mel $e square "sawtooth:G2 sawtooth:B4" G5 B5 D6 G6 F#6 E6 D6 B5
	mel $e square "sawtooth:Eb3 sawtooth:G4" G5 Bb5 Eb6 G6 G#6 G6 Eb6 Bb5
	mel $e square "sawtooth:Ab2 sawtooth:C5" G#5 C6 Eb6 G#6 Eb6 C6 G#5 F5
	mel $e square "sawtooth:Bb2 sawtooth:F4" F5 Bb5 D6 F6 E6 D6 C6 Bb5
	mel $e square "sawtooth:C3 sawtooth:Bb4" E6 G6 E6 C6 G5 E5 G5 Bb5
	mel $e square "sawtooth:F3 sawtooth:A4" A5 C6 F6 C6 A5 F5*2 -
	mel $e square "sawtooth:D3 sawtooth:A4" F#6*2 E6 D6 A5*2 F#5 A5
	mel $e square "sawtooth:G2 sawtooth:D5" B5 D6 G6*2 F#6 E6 D6 B5
	mel $e square "sawtooth:C3 sawtooth:G4" C6 E6 G6 E6 D#6 E6 G#6 E6
	mel $e square "sawtooth:F3 sawtooth:C5" F6 E6 D6 C6 Bb5 A5 G5 F5
	mel $e square "sawtooth:A2 sawtooth:E5" E6 C#6 A5 E5 A5 C#6 E6 A6
	mel 0.125 square "sawtooth:D3 sawtooth:F4" D6 E6 F6 F#6 G6 G#6 A6 G#6 G6 F#6 F6 E6 D#6 D6 C#6 C6
	mel $e square "sawtooth:Bb2 sawtooth:D5" Bb5 D6 F6 D6 Bb5 F5 D5 F5
	mel $e square "sawtooth:F3 sawtooth:A4" F5*4 -*4
} | music music-square-melody-tremolo \
	"Music: square-wave melody over sawtooth bass and pad, tremolo, F major with chromatic notes, 600-1760 Hz" \
	tremolo 6 40

{
	chord 1 sawtooth F5 A5 C6 E6
	chord 1 sawtooth D5 F5 A5 C6
	chord 1 sawtooth G5 Bb5 D6 F6
	chord 1 sawtooth E5 G5 Bb5 C6
	chord 1 sawtooth F5 A5 C6 F6
	chord 1 sawtooth F#5 A5 D6 F#6
	chord 1 sawtooth G5 B5 D6 F#6
	chord 1 sawtooth E5 G#5 B5 E6
	chord 1 sawtooth A5 C#6 E6 G6
	chord 1 sawtooth D5 F#5 A5 D6
	chord 1 sawtooth Eb5 G5 Bb5 Eb6
	chord 1 sawtooth G#5 C6 Eb6 G#6
	chord 1 sawtooth Bb5 D6 F6 A6
	chord 1 sawtooth Bb5 C6 E6 G6
	chord 1 sawtooth F5 Ab5 C6 Eb6
	chord 1 sawtooth F5 G#5 C#6 F6
	chord 1 sawtooth F#5 A#5 C#6 F#6
	chord 1 sawtooth B5 D#6 F#6 A6
	chord 1 sawtooth E5 G#5 B5 E6
	chord 1 sawtooth G5 A5 C6 E6
	# rhythmic stabs with a square bass
	for c in "F2 A5 C6 E6" "F2 A5 C6 E6" "Bb2 Bb5 D6 F6" "Bb2 Bb5 D6 F6" \
		"D3 F#5 A5 F#6" "D3 F#5 A5 F#6" "G2 G5 B5 F#6" "G2 G5 B5 F#6" \
		"Eb3 G5 Bb5 Eb6" "Ab2 G#5 C6 G#6" "C3 G5 Bb5 E6" "C3 G5 Bb5 E6" \
		"F2 F5 A5 E6" "F2 F5 A5 E6"; do
		read -r b n1 n2 n3 <<<"$c"
		echo "0.5 square:$b sawtooth:$n1 sawtooth:$n2 sawtooth:$n3"
		echo "0.25 rest"
		echo "0.25 square:$b sawtooth:$n1 sawtooth:$n2 sawtooth:$n3"
	done
	chord 2 sawtooth F5 A5 C6 E6
} | music music-saw-chords-overdrive \
	"Music: four-voice sawtooth chords (maj7, 7th, minor) then square-bass stabs, overdrive, 580-1760 Hz" \
	overdrive 12 30

{
	for pass in 1 2; do
		arp 0.15 pluck F3 "F5 A5 C6 E6"
		arp 0.15 pluck D3 "D5 F5 A5 C6"
		arp 0.15 pluck G2 "G5 Bb5 D6 F6"
		arp 0.15 pluck C3 "E5 G5 Bb5 C6"
		arp 0.15 pluck D3 "F#5 A5 D6 F#6"
		arp 0.15 pluck G2 "G5 B5 D6 F#6"
		arp 0.15 pluck E3 "E5 G#5 B5 E6"
		arp 0.15 pluck A2 "A5 C#6 E6 G6"
		arp 0.15 pluck Eb3 "Eb5 G5 Bb5 Eb6"
		arp 0.15 pluck Ab2 "G#5 C6 Eb6 G#6"
		arp 0.15 pluck Bb2 "Bb5 D6 F6 A6"
		arp 0.15 pluck F3 "F5 Ab5 C6 Eb6"
		arp 0.15 pluck F#3 "F#5 A#5 C#6 F#6"
		arp 0.15 pluck B2 "B5 D#6 F#6 A6"
		arp 0.15 pluck E3 "E5 G#5 B5 E6"
		arp 0.15 pluck A2 "G5 A5 C6 E6"
		if ((pass == 1)); then
			mel 0.1 pluck "" F5 G5 A5 Bb5 C6 D6 E6 F6 F#6 G6 G#6 A6 G#6 F#6 E6 D6 C6 Bb5 A5 G5
		fi
	done
	echo "1.5 pluck:F3 pluck:F5 pluck:A5 pluck:E6"
} | music music-pluck-arpeggios-echo \
	"Music: plucked-string arpeggios (Karplus-Strong pluck) through 16 chords twice, echo, 580-1760 Hz" \
	echo 0.8 0.7 150 0.35 260 0.2

{
	q=0.5
	mel $q triangle "sawtooth:F2" A5 C6 F6 E6
	mel $q triangle "sawtooth:Bb2" D6 F6 D6 Bb5
	mel $q triangle "sawtooth:C3" C6 E6 G6 E6
	mel $q triangle "sawtooth:F2" F6*2 C6 A5
	mel $q triangle "sawtooth:D3" F#6 A6 F#6 D6
	mel $q triangle "sawtooth:G2" B5 D6 G6 F#6
	mel $q triangle "sawtooth:C3" E6 C6 G5 E6
	mel $q triangle "sawtooth:F2" F5*2 A5 C6
	mel $q triangle "sawtooth:Eb3" G5 Bb5 Eb6 G6
	mel $q triangle "sawtooth:Ab2" G#6*2 Eb6 C6
	mel $q triangle "sawtooth:Db3" C#6 F6 G#6 F6
	mel $q triangle "sawtooth:C3" E6*2 - G5
	mel $q triangle "sawtooth:F2" F5 Bb5 E6 F#6
	mel $q triangle "sawtooth:Bb2" F6 D6 Bb5 F5
	mel $q triangle "sawtooth:C3" G5 E6 C6 Bb5
	mel $q triangle "sawtooth:F2" A5*2 F5*2
} | music music-triangle-melody-chorus \
	"Music: single-line triangle-wave melody over a sawtooth bass, chorus and tremolo, 580-1760 Hz" \
	chorus 0.7 0.9 55 0.4 0.25 2 -t tremolo 5 30

# --- tones --------------------------------------------------------------------
# One DTMF frequency alone: 2 s each at -3, -10, -20 and -30 dBFS peak,
# separated by 0.5 s of silence (10 s in all).
for f in 697 770 852 941 1209 1336 1477 1633; do
	name=tones-single-$f
	args=()
	for lvl in -3 -10 -20 -30; do
		args+=(synth 0.5 sine 0 : synth 2 sine "$f" vol "${lvl}dB" fade q 0.005 2 0.005 :)
	done
	unset 'args[${#args[@]}-1]'
	"${SOX[@]}" -n "${ULAW[@]}" "$OUT/$name.wav" "${args[@]}"
	describe "$name" "Pure sine $f Hz alone (one DTMF frequency, no partner), 2 s at each of -3/-10/-20/-30 dBFS"
done

"${SOX[@]}" -n "${ULAW[@]}" "$OUT/tones-sweep-300-3400.wav" \
	synth 0.5 sine 0 : \
	synth 6 sine 300-3400 vol -10dB fade q 0.01 6 0.01 : \
	synth 0.5 sine 0 : \
	synth 6 sine 3400:300 vol -10dB fade q 0.01 6 0.01 : \
	synth 0.5 sine 0 : \
	synth 3 sine 300:3400 vol -3dB fade q 0.01 3 0.01
describe tones-sweep-300-3400 "Sine sweeps at -10 dBFS: 300->3400 Hz linear (6 s), 3400->300 Hz exponential (6 s), then 300->3400 Hz exponential at -3 dBFS (3 s)"

# Call-progress tones (North American precise tone plan frequencies), each
# pair summed with equal amplitude, peak -10 dBFS.
cp=(synth 1 sine 0 sine 0 remix - :
	synth 8 sine 350 sine 440 remix - vol -10dB fade q 0.01 8 0.01 :
	synth 1 sine 0 sine 0 remix -)
for _ in 1 2; do
	cp+=(: synth 2 sine 440 sine 480 remix - vol -10dB fade q 0.01 2 0.01
		: synth 4 sine 0 sine 0 remix -)
done
for _ in 1 2 3 4 5 6 7 8 9 10; do
	cp+=(: synth 0.5 sine 480 sine 620 remix - vol -10dB fade q 0.005 0.5 0.005
		: synth 0.5 sine 0 sine 0 remix -)
done
"${SOX[@]}" -r 8000 -c 2 -n "${ULAW[@]}" "$OUT/tones-callprogress.wav" "${cp[@]}"
describe tones-callprogress "Call progress: dial tone 350+440 Hz (8 s), ringback 440+480 Hz 2 s on/4 s off x2, busy 480+620 Hz 0.5 s on/off x10"

# --- checks and manifest --------------------------------------------------------
fail=0
{
	printf 'file\tseconds\tdescription\n'
	for f in "$OUT"/*.wav; do
		b=$(basename "$f" .wav)
		rate=$(soxi -r "$f")
		ch=$(soxi -c "$f")
		enc=$(soxi -e "$f")
		secs=$(soxi -D "$f")
		tag=$(od -An -tu2 -j20 -N2 "$f" | tr -d ' ')
		if [[ $rate != 8000 || $ch != 1 || $enc != *u-law* || $tag != 7 ]]; then
			echo "BAD FORMAT: $b.wav rate=$rate channels=$ch encoding=$enc format-tag=$tag" >&2
			fail=1
		fi
		if ! awk -v s="$secs" 'BEGIN { exit !(s >= 10 && s <= 60) }'; then
			echo "BAD LENGTH: $b.wav is $secs s (want 10-60 s)" >&2
			fail=1
		fi
		if [[ -z ${DESC[$b]:-} ]]; then
			echo "NO DESCRIPTION: $b.wav" >&2
			fail=1
		fi
		printf '%s.wav\t%.2f\t%s\n' "$b" "$secs" "${DESC[$b]:-}"
	done
} >"$OUT/MANIFEST.tsv"
((fail == 0)) || exit 1

column -t -s $'\t' "$OUT/MANIFEST.tsv" | cut -c1-150
total_s=$(awk -F'\t' 'NR > 1 { s += $2 } END { printf "%.1f", s }' "$OUT/MANIFEST.tsv")
total_b=$(cat "$OUT"/*.wav | wc -c)
echo "made $(($(wc -l <"$OUT/MANIFEST.tsv") - 1)) files, $total_s s, $total_b bytes of WAV in $OUT"
