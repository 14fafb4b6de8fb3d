// Package spandsp wraps the DTMF receiver of the C library spandsp
// (Debian libspandsp-dev 0.0.6) through cgo, so that tests and benchmarks
// can hold the pure-Go [github.com/sspr-project/sspr/dtmf.Detector] up
// against a well-known reference on the same audio.
//
// It is a reference for tests and benchmarks only. Everything that uses C
// sits behind the build tag spandsp (which also needs cgo), so the project
// builds and tests without the library; without the tag this package is
// empty. With the tag:
//
//	apt-get install libspandsp-dev pkg-config
//	go test -tags spandsp ./dtmf/...
//
// spandsp's receiver works on 102-sample blocks (12.75 ms) and reports a
// key when it starts: two blocks in a row must agree before a key begins
// or ends.
package spandsp
