// Package i18n is the portal's message catalogue: every string a person
// reads on a page, by key, in each language the portal speaks.
//
// The messages live in embedded YAML files, one per language
// (messages/<lang>.yaml, named by a BCP 47 tag), as flat keys:
//
//	reset.title: "Reset your password"
//	phone.calling: "Calling {number}…"
//
// A {name} in a message is a placeholder, filled from the arguments of
// [Catalogue.T]; a "{" or "}" that is not part of one is an error, so
// there is no escape. English is complete and is the fallback: another
// language may leave keys out, but may not add keys English lacks or
// use a different set of placeholders for a key. An operator adds or
// overrides languages with a directory of the same files ([Load]); a
// second language needs no code change.
package i18n
