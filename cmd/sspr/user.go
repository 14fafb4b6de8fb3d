package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sspr-project/sspr/portal"
	"github.com/sspr-project/sspr/portal/phone"
	"github.com/sspr-project/sspr/portal/store"
)

// userCommand parses "--config FILE USER" and opens the configured store.
func userCommand(e *env, fs *flagSet, args []string) (st *store.DB, user string, status int, ok bool) {
	configFile := fs.String("config", "", "sspr configuration file (YAML) whose store section to use (required)")
	names, status, ok := fs.parse(e, args)
	if !ok {
		return nil, "", status, false
	}
	switch {
	case *configFile == "":
		return nil, "", fs.usageError(e, "--config is required"), false
	case len(names) != 1 || names[0] == "":
		return nil, "", fs.usageError(e, "want exactly one USER"), false
	}
	fc, err := loadConfig(*configFile)
	if err != nil {
		fmt.Fprintf(e.stderr, "sspr %s: --config: %v\n", fs.name, err)
		return nil, "", exitUsage, false
	}
	open, err := fc.Store.opener()
	if err != nil {
		fmt.Fprintf(e.stderr, "sspr %s: %v\n", fs.name, err)
		return nil, "", exitUsage, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err = open(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "sspr %s: store: %v\n", fs.name, err)
		return nil, "", exitFail, false
	}
	// The portal keys users by the name as typed, trimmed and lower case.
	u, valid := portal.CanonicalUsername(names[0])
	if !valid {
		st.Close()
		return nil, "", fs.usageError(e, "%q is not a username", names[0]), false
	}
	return st, u, 0, true
}

func runUserShow(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("user show", "--config FILE USER", `
Show what sspr keeps about USER: the registration (number masked), the
reset-process lockout, and the last audit records.`)
	st, user, status, ok := userCommand(e, fs, args)
	if !ok {
		return status
	}
	defer st.Close()
	reg, err := st.Registration(ctx, user)
	switch {
	case errors.Is(err, store.ErrNotFound):
		fmt.Fprintf(e.stdout, "registration: none\n")
	case err != nil:
		fmt.Fprintf(e.stderr, "sspr user show: %v\n", err)
		return exitFail
	default:
		fmt.Fprintf(e.stdout, "registration: phone %s, PIN %s, %d security answers, language %q, updated %s\n",
			phone.Mask(reg.Phone), map[bool]string{true: "set", false: "not set"}[reg.PINHash != ""],
			len(reg.Answers), reg.Language, reg.Updated.Format(time.RFC3339))
	}
	lo, err := st.Lockout(ctx, user)
	if err != nil {
		fmt.Fprintf(e.stderr, "sspr user show: %v\n", err)
		return exitFail
	}
	now := time.Now()
	switch {
	case lo.Permanent:
		fmt.Fprintf(e.stdout, "reset process: locked until cleared (%d lockouts)\n", lo.Lockouts)
	case lo.Locked(now):
		fmt.Fprintf(e.stdout, "reset process: locked until %s (%d lockouts)\n", lo.LockedUntil.Format(time.RFC3339), lo.Lockouts)
	default:
		fmt.Fprintf(e.stdout, "reset process: open (%d failures, %d lockouts)\n", lo.Failures, lo.Lockouts)
	}
	recs, err := st.List(ctx, store.Filter{User: user})
	if err != nil {
		fmt.Fprintf(e.stderr, "sspr user show: %v\n", err)
		return exitFail
	}
	if len(recs) > 10 {
		recs = recs[len(recs)-10:]
	}
	for _, r := range recs {
		fmt.Fprintf(e.stdout, "audit: %s %s %s client=%s reset=%s call=%s\n",
			r.Time.Format(time.RFC3339), r.Event, r.Outcome, r.ClientAddr, r.ResetID, r.CallID)
	}
	return exitOK
}

func runUserClearLockout(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("user reopen", "--config FILE USER", `
Clear USER's reset-process lockout, a permanent one included, and forget
the failures counted. The directory account is not touched (see
"sspr directory unlock"). The change is audited.`)
	st, user, status, ok := userCommand(e, fs, args)
	if !ok {
		return status
	}
	defer st.Close()
	if err := st.ClearLockout(ctx, user); err != nil {
		fmt.Fprintf(e.stderr, "sspr user reopen: %v\n", err)
		return exitFail
	}
	if err := st.Append(ctx, store.Record{Event: "admin.clear-lockout", User: user, ClientAddr: "cli", Outcome: "ok"}); err != nil {
		fmt.Fprintf(e.stderr, "sspr user reopen: audit: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(e.stdout, "%s: reset-process lockout cleared\n", user)
	return exitOK
}

func runUserDeleteRegistration(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("user forget", "--config FILE USER", `
Delete USER's registration (number, PIN, security answers, language), for
a lost phone or a leaver; the user registers again to use sspr. The
change is audited.`)
	st, user, status, ok := userCommand(e, fs, args)
	if !ok {
		return status
	}
	defer st.Close()
	err := st.DeleteRegistration(ctx, user)
	switch {
	case errors.Is(err, store.ErrNotFound):
		fmt.Fprintf(e.stdout, "%s: no registration\n", user)
		return exitFail
	case err != nil:
		fmt.Fprintf(e.stderr, "sspr user forget: %v\n", err)
		return exitFail
	}
	if err := st.Append(ctx, store.Record{Event: "admin.delete-registration", User: user, ClientAddr: "cli", Outcome: "ok"}); err != nil {
		fmt.Fprintf(e.stderr, "sspr user forget: audit: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(e.stdout, "%s: registration deleted\n", user)
	return exitOK
}
