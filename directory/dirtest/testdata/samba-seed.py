# Seeds a freshly provisioned Samba AD (run by dirtest.SambaAD with Debian's
# /usr/bin/python3 and python3-samba, offline on sam.ldb): OU=People with
# alice bob carol dave, OU=Services with svc-reset, and a help-desk
# delegation on OU=People (inherited by user objects): the Reset Password
# extended right and read/write of lockoutTime and pwdLastSet.
# Usage: SEED_USER_PASSWORD=... SEED_SVC_PASSWORD=... samba-seed.py SMB_CONF
import os
import sys
import ldb
from samba.samdb import SamDB
from samba.auth import system_session
from samba.param import LoadParm
from samba.sd_utils import SDUtils
from samba.dcerpc import security
from samba.ndr import ndr_unpack

smbconf = sys.argv[1]
user_pw, svc_pw = os.environ["SEED_USER_PASSWORD"], os.environ["SEED_SVC_PASSWORD"]
lp = LoadParm(); lp.load(smbconf)
samdb = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
base = str(samdb.domain_dn())
samdb.create_ou("OU=People," + base, description="test users")
samdb.create_ou("OU=Services," + base, description="service accounts")
samdb.newuser("svc-reset", svc_pw, userou="OU=Services", givenname="Reset", surname="Service",
              description="delegated: Reset Password + write lockoutTime/pwdLastSet on OU=People users")
users = [("alice", "Alice", "Anders"), ("bob", "Bob", "Brown"), ("carol", "Carol", "Clark"), ("dave", "Dave", "Dunn")]
for i, (u, g, s) in enumerate(users, 1):
    samdb.newuser(u, user_pw, userou="OU=People", givenname=g, surname=s,
                  mailaddress="%s@%s" % (u, lp.get("realm").lower()), telephonenumber="+1555020000%d" % i)
    m = ldb.Message()
    m.dn = ldb.Dn(samdb, "CN=%s,OU=People,%s" % (u, base))
    m["mobile"] = ldb.MessageElement("+1555010000%d" % i, ldb.FLAG_MOD_REPLACE, "mobile")
    samdb.modify(m)
res = samdb.search(base="CN=svc-reset,OU=Services," + base, scope=ldb.SCOPE_BASE, attrs=["objectSid"])
sid = str(ndr_unpack(security.dom_sid, res[0]["objectSid"][0]))
USER = "bf967aba-0de6-11d0-a285-00aa003049e2"           # class user
RESET_PW = "00299570-246d-11d0-a768-00aa006e0529"       # extended right User-Force-Change-Password
LOCKOUT_TIME = "28630ebf-41d5-11d1-a9c1-0000f80367c1"   # attribute lockoutTime
PWD_LAST_SET = "bf967a0a-0de6-11d0-a285-00aa003049e2"   # attribute pwdLastSet
aces = ("(OA;CI;CR;%s;%s;%s)" % (RESET_PW, USER, sid) +
        "(OA;CI;RPWP;%s;%s;%s)" % (LOCKOUT_TIME, USER, sid) +
        "(OA;CI;RPWP;%s;%s;%s)" % (PWD_LAST_SET, USER, sid))
SDUtils(samdb).dacl_add_ace("OU=People," + base, aces)
print("seeded: svc-reset, " + ", ".join(u for u, _, _ in users))
