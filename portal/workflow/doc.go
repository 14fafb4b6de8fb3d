// Package workflow is the ordered sequence of gates that each of the
// portal's three journeys (register, reset, unlock) goes through, as pure
// logic: which gates a journey has, with what settings ([Config]), and where
// one session is in its journey ([Progress]). It does no I/O; the portal
// renders the gates, the store keeps a session's Progress (each gate's
// [Result] as a string), and this package decides what comes next.
//
// A journey passes only when every one of its gates has recorded [Passed];
// the first [Failed] gate ends it.
package workflow
