"""Lists (`list FILE`) or filters (`filter IN OUT PID,PID...`) a monitor recording by process id
(docs/recording-format.md): keeps the capture records, `/proc` answers and libraries of those
processes, and the clock frame."""
import json, struct, sys, collections
KINDS = {1: "data", 2: "close", 3: "exit", 4: "exec", 5: "socket_open", 6: "tls_handshake", 7: "code_mapped"}
def frames(b):
    assert b[:8] == b"APIMREC\n"
    off = 12
    while len(b) - off >= 5:
        k = b[off]; n = struct.unpack_from("<I", b, off + 1)[0]
        yield k, b[off + 5: off + 5 + n]
        off += 5 + n
def hdr(p):
    ts, conn, call_len, lost, cookie, sock, tgid, tid, offset, dlen, kind, d, src, fl, uid = struct.unpack_from("<QQQQQQIIIIBBBBI", p, 0)
    comm = p[72:88].split(b"\0")[0].decode(errors="replace")
    return dict(ts=ts, tgid=tgid, kind=KINDS.get(kind, kind), comm=comm, cookie=cookie, dlen=dlen)
b = open(sys.argv[2], "rb").read()
if sys.argv[1] == "list":
    c = collections.Counter()
    for k, p in frames(b):
        if k == 1:
            h = hdr(p); c[(h["tgid"], h["comm"], h["kind"])] += 1
        else:
            print(k, p[:200])
    for (t, comm, kind), n in sorted(c.items()):
        print(t, comm, kind, n)
elif sys.argv[1] == "filter":
    keep = {int(x) for x in sys.argv[4].split(",")}
    out = bytearray(b[:12]); cookies = set(); kept = []
    for k, p in frames(b):
        if k == 1:
            h = hdr(p)
            if h["tgid"] in keep:
                cookies.add(h["cookie"]); kept.append((k, p))
        elif k in (4, 5):
            if json.loads(p)["pid"] in keep: kept.append((k, p))
        else:
            kept.append((k, p))
    for k, p in kept:
        if k == 3 and json.loads(p)["cookie"] not in cookies: continue
        out += bytes([k]) + struct.pack("<I", len(p)) + p
    open(sys.argv[3], "wb").write(out)
    print(len(b), "->", len(out))
