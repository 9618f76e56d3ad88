"""Benchmark: the REST API under wrk, meshplane against moto's server in the same run.

    .venv/bin/python bench/api.py [--duration S] [--quick] [--repeat N] [--threads T] [--connections C]
                                  [--workers N] [--server-threads N] [--paced-repeat N] [--skip-moto]
                                  [--max-wait S] [--latency-only] [--auth | --auth-only] [--profile DIR]
                                  [--json PATH]
    .venv/bin/python bench/api.py --backends [--duration S] [--repeat N] [--nodes N] [--json PATH]

The load generator is wrk (C, one event loop per thread), not boto3, whose client-side cost would hide
the server's; the script installs the Debian package when it is missing and we are root. Lua scripts
generated into a temporary directory drive virtual-node operations, a kind both meshplane and moto
implement (moto has no virtual services):

* describe  GET a node, round-robin over a pre-created set (``--nodes``, default 500)
* list      GET the first page (100 refs, the default limit) of that set
* update    PUT a new spec on a node of the set, with a unique clientToken (botocore always sends one)
* create    PUT a new node with a unique clientToken; names are unique per request (run, wrk thread
            id, counter); the nodes go round-robin to 16 meshes so that none grows unrealistically large
* mix       50% describe, 10% list, 20% create, 10% update, 10% delete (of nodes the create run made)
* delete    DELETE the rest of the nodes the create run made (wrk thread k deletes thread k's names)

Every response status is counted in the Lua ``response()`` hook; non-2xx counts (with the first few
bodies) are reported per run, and a run's rate counts answered requests of any status.

Targets, each on its own fresh database / process: meshplane ``--synchronous NORMAL`` (the default:
a 200 survives any crash of meshplane), meshplane ``--synchronous FULL`` (an fsync per commit: a 200
survives power loss), ``moto_server``, and a no-op Flask app on meshplane's own Granian setup
(bench/noop_app.py), the ceiling. All of them are started first (idle, they cost nothing); the runs
then interleave, scenario by scenario, target by target, ``--repeat`` times, and the best run of each
is kept (the range is shown): on a shared machine, a comparison is never made across a change of
load. Before each run the script waits (up to ``--max-wait`` s) until other processes and the
hypervisor (steal time) leave the CPUs alone, and it reports what they took during the run anyway.

Describe is then paced at half meshplane's measured peak for its p99 latency: wrk's ``delay()`` hook
hands out send slots at a constant rate (Debian has no wrk2). wrk measures a request's latency from
the moment it is written, so a server that falls behind the schedule shows as a lower achieved rate,
which is reported. The server's CPU time per request (from /proc, all its processes) and wrk's are
reported too.

``--auth`` adds a fifth target, meshplane NORMAL started with ``--auth sigv4`` and a key whose policy
is evaluated on every request (``BENCH_POLICY``); wrk signs each request itself (SigV4 in Lua over
libcrypto's SHA-256 and HMAC, as a client would), and the report compares its throughput with the
unauthenticated server's, best over best and round by round (the median of the same-round ratios is the
verdict: those runs are seconds apart). ``--auth-only`` runs just those two.

``--backends`` compares the storage backends instead, describe and create only, in one run: meshplane
NORMAL on SQLite, one `meshplane serve` on PostgreSQL, and two `meshplane serve` replicas on one PostgreSQL
database with the load spread over both (two wrk processes, each with half the threads and connections,
run at the same time). PostgreSQL is a server of its own started by the script (tests/pgserver.py: Debian's
binaries, a fresh cluster, fsync and synchronous_commit on, as in production); the server CPU per request
then includes PostgreSQL's processes (shown apart too).

``--profile DIR`` adds py-spy runs (``pip install py-spy``) of meshplane's workers under describe and
create. wrk runs with few threads and nothing is pinned; all traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import http.client
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from procs import BIN, MeshplaneServer, Process, env_with_venv  # noqa: E402

from meshplane.config import Config  # noqa: E402

PREFIX = "/v20190125"
READ_MESH = "bench"  # the pre-created set: describe, list, update
# Creates and deletes go round-robin to these meshes: apart from the read set (lists and moto's scans
# see a fixed set) and spread so that no mesh grows past a realistic size during a run.
WRITE_MESHES = [f"bench-w{i}" for i in range(16)]
# moto routes a request by its Authorization header; meshplane accepts any signature.
AUTH = ("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/appmesh/aws4_request, "
        "SignedHeaders=host, Signature=x")
SPEC = ('{"listeners":[{"portMapping":{"port":%d,"protocol":"http"}}],'
        '"serviceDiscovery":{"dns":{"hostname":"%s.bench.local"}},'
        '"backends":[{"virtualService":{"virtualServiceName":"svc.bench.local"}}]}')
OPS = ("describe", "list", "update", "create", "delete", "mix")
SIGNED_LABEL = "meshplane sigv4"
CALM_STEAL = 0.05  # a run during which the hypervisor withheld less than this share of the CPUs
MIX = {"describe": 50, "list": 10, "create": 20, "update": 10, "delete": 10}


# -- wrk ---------------------------------------------------------------------------------------------

def ensure_wrk() -> str:
    """The path of wrk, installing the Debian package first when we are root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is not installed: run `sudo apt-get install -y wrk` and try again")
    print("wrk not found: apt-get install -y wrk", file=sys.stderr)
    if subprocess.run(["apt-get", "install", "-y", "wrk"], stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["apt-get", "update"], stdout=subprocess.DEVNULL, check=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], stdout=subprocess.DEVNULL, check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("apt-get installed wrk but it is not on PATH")
    return found


def _lua(value: Any) -> str:
    """A Python str/int/float/bool/dict/list as a Lua literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "{" + ", ".join(_lua(v) for v in value) + "}"
    raise TypeError(type(value))


# Shared by every script: thread ids, the status counters, a monotonic clock (LuaJIT ffi), and a
# done() that prints one JSON line for the Python side.
_PRELUDE = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local _ts = ffi.new("bench_timespec")
function now_ms()
  ffi.C.clock_gettime(1, _ts)  -- CLOCK_MONOTONIC
  return tonumber(_ts.tv_sec) * 1000 + tonumber(_ts.tv_nsec) / 1e6
end

HEADERS = {["Authorization"] = CFG.auth, ["Content-Type"] = "application/json"}

-- SigV4 (targets started with --auth sigv4): every request is signed here, as a client would, with
-- libcrypto's SHA-256 and HMAC through the ffi; the signing key is derived once per day.
local crypto
local _md = ffi.new("unsigned char[32]")
local _mdlen = ffi.new("unsigned int[1]")
if CFG.sign then
  ffi.cdef[[
  typedef struct evp_md_st EVP_MD;
  const EVP_MD *EVP_sha256(void);
  unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len, const unsigned char *d,
                      size_t n, unsigned char *md, unsigned int *md_len);
  unsigned char *SHA256(const unsigned char *d, size_t n, unsigned char *md);
  ]]
  crypto = ffi.load(CFG.sign.libcrypto)
end
local HEX = {}
for i = 0, 255 do HEX[i] = string.format("%02x", i) end
local _hex = {}
local function hexdigest()
  for i = 0, 31 do _hex[i + 1] = HEX[_md[i]] end
  return table.concat(_hex)
end
local function hmac(key, data)
  crypto.HMAC(crypto.EVP_sha256(), key, #key, data, #data, _md, _mdlen)
  return ffi.string(_md, 32)
end
local function sha256_hex(data)
  crypto.SHA256(data, #data, _md)
  return hexdigest()
end
local sign_day, sign_key
local SIGNED = "content-type;host;x-amz-date"
function fmt(method, path, body)
  if not CFG.sign then return wrk.format(method, path, HEADERS, body) end
  local amz_date = os.date("!%Y%m%dT%H%M%SZ")
  local day = amz_date:sub(1, 8)
  if day ~= sign_day then
    sign_key = hmac(hmac(hmac(hmac("AWS4" .. CFG.sign.secret, day), CFG.sign.region), "appmesh"), "aws4_request")
    sign_day = day
  end
  local host = wrk.headers["Host"]
  -- The paths hold unreserved characters only, so the double-encoded canonical path is the path.
  local canonical = method .. "\n" .. path .. "\n\ncontent-type:application/json\nhost:" .. host ..
    "\nx-amz-date:" .. amz_date .. "\n\n" .. SIGNED .. "\n" .. sha256_hex(body or "")
  local scope = day .. "/" .. CFG.sign.region .. "/appmesh/aws4_request"
  hmac(sign_key, "AWS4-HMAC-SHA256\n" .. amz_date .. "\n" .. scope .. "\n" .. sha256_hex(canonical))
  local headers = {["Host"] = host, ["Content-Type"] = "application/json", ["X-Amz-Date"] = amz_date,
    ["Authorization"] = "AWS4-HMAC-SHA256 Credential=" .. CFG.sign.akid .. "/" .. scope ..
      ", SignedHeaders=" .. SIGNED .. ", Signature=" .. hexdigest()}
  return wrk.format(method, path, headers, body)
end
local threads = {}
local next_tid = 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

tid = 0
counter = 0        -- requests this thread generated (names and tokens are built from it)
statuses = {}      -- status code -> responses
ops = {}           -- operation -> requests generated (the mix)
started_ms = 0
stopped_ms = 0     -- when a delete thread ran out of names (0: never)
deleted = 1        -- the last name the mix deleted (name 1 is skipped: see create_request)

function init(args)
  started_ms = now_ms()
  math.randomseed(7919 + tid)
  if scenario_init then scenario_init() end
end

samples = {}       -- the first few non-2xx answers, to say what went wrong
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if (status < 200 or status > 299) and #samples < 3 then
    table.insert(samples, status .. " " .. string.sub(body or "", 1, 300))
  end
end

function json_str(text)
  return '"' .. text:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

local function count(op) ops[op] = (ops[op] or 0) + 1 end

function describe_request()
  local i = (counter * 7 + tid * 7919) % CFG.n_read
  return fmt("GET", CFG.read_item .. "r-" .. i)
end

function list_request()
  return fmt("GET", CFG.read_collection)
end

function update_request()
  local i = (counter * 7 + tid * 7919) % CFG.n_read
  local name = "r-" .. i
  local body = string.format(CFG.update_fmt, CFG.run .. "-" .. tid .. "-" .. counter, 8000 + counter % 1000, name)
  return fmt("PUT", CFG.read_item .. name, body)
end

-- wrk calls request() once on thread 0 before the run to check it, and never sends that one: the
-- first name of each thread may not exist, so deletes start at name 2.
function create_request()
  local name = CFG.run .. "-" .. tid .. "-" .. counter
  local collection = CFG.write_meshes[1 + counter % #CFG.write_meshes] .. "/virtualNodes"
  return fmt("PUT", collection, string.format(CFG.create_fmt, name, name, 8080, name))
end

-- The DELETE of name <pool_run>-<tid>-<k> made by create_request.
function delete_request(k)
  local mesh = CFG.write_meshes[1 + k % #CFG.write_meshes]
  return fmt("DELETE", mesh .. "/virtualNodes/" .. CFG.pool_run .. "-" .. tid .. "-" .. k)
end

function done(summary, latency, requests)
  local codes, counters, opcount, deletes, bad = {}, {}, {}, {}, {}
  local elapsed = summary.duration / 1000
  local exhausted = false
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do codes[code] = (codes[code] or 0) + n end
    for op, n in pairs(t:get("ops")) do opcount[op] = (opcount[op] or 0) + n end
    table.insert(counters, string.format('"%d":%d', t:get("tid"), t:get("counter")))
    table.insert(deletes, string.format('"%d":%d', t:get("tid"), t:get("deleted") or 0))
    for _, text in ipairs(t:get("samples")) do table.insert(bad, json_str(text)) end
    if t:get("stopped_ms") > 0 then exhausted = true end
  end
  if exhausted then
    -- A delete run whose threads all ran out of names: its rate is over the time until the last stop.
    elapsed = 0
    for _, t in ipairs(threads) do
      local stop = t:get("stopped_ms")
      if stop == 0 then elapsed = summary.duration / 1000; break end
      elapsed = math.max(elapsed, stop - t:get("started_ms"))
    end
  end
  local sc, oc = {}, {}
  for code, n in pairs(codes) do table.insert(sc, string.format('"%d":%d', code, n)) end
  for op, n in pairs(opcount) do table.insert(oc, string.format('"%s":%d', op, n)) end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_ms":%.1f,"elapsed_ms":%.1f,"exhausted":%s,"bytes":%d,' ..
    '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"status_errors":%d,' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},' ..
    '"statuses":{%s},"ops":{%s},"counters":{%s},"deleted":{%s},"samples":[%s]}\n',
    summary.requests, summary.duration / 1000, elapsed, tostring(exhausted), summary.bytes,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    table.concat(sc, ","), table.concat(oc, ","), table.concat(counters, ","), table.concat(deletes, ","),
    table.concat(bad, ",")))
end
"""

_SCENARIOS = {
    "describe": r"""
function request()
  counter = counter + 1
  return describe_request()
end
""",
    "list": r"""
function request()
  counter = counter + 1
  return list_request()
end
""",
    "update": r"""
function request()
  counter = counter + 1
  return update_request()
end
""",
    "create": r"""
function request()
  counter = counter + 1
  local req = create_request()
  return req
end
""",
    "delete": r"""
local filler
function scenario_init()
  filler = fmt("GET", CFG.read_item .. "r-0")
end
function request()
  local pool = CFG.pool[tid] or 0
  if counter == 0 then counter = CFG.pool_start[tid] or 1 end
  if counter >= pool then
    -- Out of names: stop this thread; the filler is never answered (the loop stops first).
    if stopped_ms == 0 then stopped_ms = now_ms() end
    wrk.thread:stop()
    return filler
  end
  counter = counter + 1
  return delete_request(counter)
end
""",
    "mix": r"""
-- Deletes take the nodes the create run made (this thread id's, from name 2 up), so a delete
-- never races the create of its own name; the delete run then starts where the mix stopped.
function request()
  counter = counter + 1
  local r = math.random(100)
  local m = CFG.mix
  if r <= m.describe then
    count("describe"); return describe_request()
  end
  r = r - m.describe
  if r <= m.list then count("list"); return list_request() end
  r = r - m.list
  if r <= m.create then count("create"); return create_request() end
  r = r - m.create
  if r <= m.update then count("update"); return update_request() end
  if deleted < (CFG.pool[tid] or 0) then
    deleted = deleted + 1
    count("delete"); return delete_request(deleted)
  end
  count("describe"); return describe_request()
end
""",
    "paced": r"""
-- A constant rate: every delay() call claims the next send slot of this thread's schedule.
local interval = 1000 / CFG.rate_per_thread
local slot
function delay()
  local now = now_ms()
  if slot == nil or now - slot > 1000 then slot = now end
  slot = slot + interval
  local d = slot - now
  if d < 0 then return 0 end
  return d
end
function request()
  counter = counter + 1
  return describe_request()
end
""",
}


def write_script(directory: Path, scenario: str, run: str, n_read: int, threads: int, connections: int,
                 pool_run: str = "", pool: dict[int, int] | None = None, pool_start: dict[int, int] | None = None,
                 rate: float = 0.0, sign: dict[str, str] | None = None) -> Path:
    """Generate the Lua script of one run; returns its path. ``sign``: SigV4-sign every request with
    this key (``akid``, ``secret``, ``region``, ``libcrypto``)."""
    cfg: dict[str, Any] = {
        "auth": AUTH,
        "run": run,
        "n_read": n_read,
        "read_item": f"{PREFIX}/meshes/{READ_MESH}/virtualNodes/",
        "read_collection": f"{PREFIX}/meshes/{READ_MESH}/virtualNodes",
        "write_meshes": [f"{PREFIX}/meshes/{m}" for m in WRITE_MESHES],
        "create_fmt": '{"virtualNodeName":"%s","clientToken":"%s","spec":' + SPEC + "}",
        "update_fmt": '{"clientToken":"%s","spec":' + SPEC + "}",
        "pool_run": pool_run,
        "pool": pool or {},
        "pool_start": pool_start or {},
        "mix": MIX,
        "rate_per_thread": max(rate / threads, 1.0),
    }
    if sign:
        cfg["sign"] = sign
    path = directory / f"{run}-{scenario}.lua"
    path.write_text("-- generated by bench/api.py\nCFG = " + _lua(cfg) + "\n" + _PRELUDE + _SCENARIOS[scenario])
    return path


@dataclass
class Result:
    """One wrk run (or the best of several: see ``rates``)."""

    target: str
    scenario: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]
    socket_errors: int
    exhausted: bool
    ops: dict[str, int] = field(default_factory=dict)
    counters: dict[int, int] = field(default_factory=dict)
    deleted: dict[int, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)  # the first non-2xx answers
    cpu_us: float = 0.0  # server CPU time (user + system, all its processes) per answered request
    wrk_cpu_us: float = 0.0  # wrk's CPU time per answered request
    foreign: float = 0.0  # share of the machine's CPU other processes used during the run
    stolen: float = 0.0  # share of the machine's CPU the hypervisor withheld (steal time) during the run
    rates: list[float] = field(default_factory=list)  # every repeat's rate, in order
    p99s: list[float] = field(default_factory=list)  # every repeat's p99
    steals: list[float] = field(default_factory=list)  # every repeat's steal share

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def non_2xx(self) -> int:
        return sum(n for code, n in self.statuses.items() if not code.startswith("2"))


def run_wrk(wrk: str, url: str, script: Path, duration: float, threads: int, connections: int,
            target: str, scenario: str) -> Result:
    """Run wrk once against ``url`` (127.0.0.1 only) and parse the JSON line its done() prints."""
    assert urlsplit(url).hostname == "127.0.0.1", url
    argv = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "5s",
            "-s", str(script), url]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    raw = json.loads(line[len("BENCHJSON "):])
    lat = raw["latency_us"]
    wrk_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result = Result(
        target=target, scenario=scenario, requests=raw["requests"], seconds=raw["elapsed_ms"] / 1000,
        p50_ms=lat["p50"] / 1000, p99_ms=lat["p99"] / 1000, max_ms=lat["max"] / 1000,
        statuses=raw["statuses"], socket_errors=sum(raw["socket_errors"].values()),
        exhausted=raw["exhausted"], ops=raw["ops"], counters={int(k): v for k, v in raw["counters"].items()},
        deleted={int(k): v for k, v in raw["deleted"].items()}, samples=raw["samples"],
        wrk_cpu_us=1e6 * wrk_cpu / max(1, raw["requests"]),
    )
    result.rates, result.p99s = [result.rate], [result.p99_ms]
    return result


# -- the servers -------------------------------------------------------------------------------------

def _request(conn: http.client.HTTPConnection, method: str, path: str, body: str | None = None,
             sign: dict[str, str] | None = None) -> int:
    headers = {"Authorization": AUTH, "Content-Type": "application/json"}
    if sign:
        headers = _signed(f"http://{conn.host}:{conn.port}{path}", method, body, sign)
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status


def _signed(url: str, method: str, body: str | None, sign: dict[str, str]) -> dict[str, str]:
    """Headers of a request to ``url`` signed with botocore's SigV4 signer (the seeding side)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=url, data=body or b"", headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(sign["akid"], sign["secret"]), "appmesh", sign["region"]).add_auth(request)
    return dict(request.headers.items())


def seed(url: str, n_read: int, sign: dict[str, str] | None = None) -> None:
    """Create the meshes and the read set ``r-0 .. r-<n_read-1>`` (every answer must be 200)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        for mesh in (READ_MESH, *WRITE_MESHES):
            status = _request(conn, "PUT", f"{PREFIX}/meshes", json.dumps({"meshName": mesh, "spec": {}}), sign)
            if status != 200:
                raise RuntimeError(f"create mesh {mesh}: {status}")
        for i in range(n_read):
            body = '{"virtualNodeName":"r-%d","spec":%s}' % (i, SPEC % (8080, f"r-{i}"))
            status = _request(conn, "PUT", f"{PREFIX}/meshes/{READ_MESH}/virtualNodes", body, sign)
            if status != 200:
                raise RuntimeError(f"create node r-{i}: {status}")
    finally:
        conn.close()


def worker_pids(master: int) -> list[int]:
    """The API worker processes (children) of ``master``."""
    try:
        text = Path(f"/proc/{master}/task/{master}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def start_meshplane(tmp: Path, name: str, synchronous: str, workers: int, threads: int,
                    *extra: str) -> MeshplaneServer:
    """`meshplane serve` on a fresh database; quotas raised so that creates never hit them."""
    env = env_with_venv({
        "MESHPLANE_QUOTA_VIRTUALNODES": "1000000",
        "MESHPLANE_LOG_LEVEL": "warning",
    })
    return MeshplaneServer(tmp / f"{name}.db", tmp / f"{name}.log", "--synchronous", synchronous,
                           "--workers", str(workers), "--threads", str(threads), *extra, env=env)


#: The bench key's policy: every App Mesh action on the bench meshes and what they hold, evaluated
#: on every request (an admin key would skip policy evaluation).
BENCH_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "appmesh:*",
         "Resource": [f"arn:aws:appmesh:us-east-1:{Config().account_id}:mesh/bench",
                      f"arn:aws:appmesh:us-east-1:{Config().account_id}:mesh/bench/*",
                      f"arn:aws:appmesh:us-east-1:{Config().account_id}:mesh/bench-w*"]},
        {"Effect": "Deny", "Action": "appmesh:Delete*", "Resource": "arn:aws:appmesh:*:*:mesh/bench"},
    ],
}


def start_signed(tmp: Path, workers: int, threads: int) -> tuple[MeshplaneServer, dict[str, str]]:
    """`meshplane serve --auth sigv4` (NORMAL) and a policy-scoped key for it (``sign`` of the Lua side)."""
    db = tmp / "sigv4.db"
    policy = tmp / "bench-policy.json"
    policy.write_text(json.dumps(BENCH_POLICY))
    out = subprocess.run([str(BIN / "meshplane"), "keys", "create", "--db", str(db), "--name", "bench",
                          "--policy", str(policy)], check=True, capture_output=True, text=True).stdout
    key = json.loads(out)
    server = start_meshplane(tmp, "sigv4", "NORMAL", workers, threads, "--auth", "sigv4")
    libcrypto = next((str(p) for p in (Path("/usr/lib/x86_64-linux-gnu/libcrypto.so.3"),
                                       Path("/usr/lib/aarch64-linux-gnu/libcrypto.so.3")) if p.exists()), "crypto")
    return server, {"akid": key["AccessKeyId"], "secret": key["SecretAccessKey"], "region": "us-east-1",
                    "libcrypto": libcrypto}


def start_moto(tmp: Path) -> tuple[Process, str]:
    """`moto_server` on 127.0.0.1, a free port."""
    proc = Process([str(BIN / "moto_server"), "-p", "0", "-H", "127.0.0.1"], tmp / "moto.log")
    try:
        url = proc.wait_for_line(r"Running on (http://127\.0\.0\.1:\d+)").group(1)
    except BaseException:
        proc.stop()
        raise
    return proc, url


def start_noop(tmp: Path, workers: int, threads: int) -> tuple[Process, str]:
    """bench/noop_app.py on meshplane's own WSGI server code, with the same workers and threads."""
    argv = [str(BIN / "python"), str(ROOT / "bench" / "noop_app.py"), "--listen", "127.0.0.1:0",
            "--workers", str(workers), "--threads", str(threads)]
    proc = Process(argv, tmp / "noop.log")
    try:
        url = proc.wait_for_line(r"no-op API listening on (http://127\.0\.0\.1:\d+)").group(1)
        _wait_ready(url, f"{PREFIX}/meshes/x/virtualNodes/y")
    except BaseException:
        proc.stop()
        raise
    return proc, url


def _wait_ready(url: str, path: str, timeout: float = 30.0) -> None:
    parts = urlsplit(url)
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
            try:
                if _request(conn, "GET", path) < 500:
                    return
            finally:
                conn.close()
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


# -- measuring ---------------------------------------------------------------------------------------

def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (from /proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float, float]:
    """(busy, stolen, total) CPU seconds of this machine so far, from /proc/stat.

    ``stolen`` is the hypervisor's steal time: CPU this VM was ready to use and did not get.
    """
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle, steal = values[3] + values[4], values[7]  # idle + iowait; steal
    total = sum(values[:8])  # guest time is already counted in user
    tick = os.sysconf("SC_CLK_TCK")
    return (total - idle - steal) / tick, steal / tick, total / tick


def wait_quiet(max_wait: float, threshold: float = 0.15) -> None:
    """Wait (up to ``max_wait`` s) until other processes and the hypervisor take under ``threshold``.

    The machine is shared: a run that starts while something else is busy measures the other
    thing too. Nothing of ours runs between two runs, so what is busy here is someone else's.
    """
    deadline = time.monotonic() + max_wait
    while True:
        busy0, stolen0, total0 = machine_cpu()
        time.sleep(1.0)
        busy1, stolen1, total1 = machine_cpu()
        share = ((busy1 - busy0) + (stolen1 - stolen0)) / max(1e-9, total1 - total0)
        if share < threshold or time.monotonic() >= deadline:
            return
        time.sleep(2.0)


def measured(wrk: str, url: str, script: Path, args: argparse.Namespace, label: str, scenario: str,
             root: int) -> Result:
    """One wrk run, with the server's CPU time (its process and children) per answered request, and
    the share of the machine's CPU that other processes took meanwhile."""
    if args.max_wait > 0:
        wait_quiet(args.max_wait)
    pids = [root, *worker_pids(root)]
    before, (busy0, stolen0, total0) = cpu_seconds(pids), machine_cpu()
    result = run_wrk(wrk, url, script, args.duration, args.threads, args.connections, label, scenario)
    server, (busy1, stolen1, total1) = cpu_seconds(pids) - before, machine_cpu()
    span = max(1e-9, total1 - total0)
    result.stolen = (stolen1 - stolen0) / span
    if result.requests:
        result.cpu_us = 1e6 * server / result.requests
        wrk_cpu = result.wrk_cpu_us * result.requests / 1e6
        result.foreign = max(0.0, (busy1 - busy0) - server - wrk_cpu) / span
    return result


def best(runs: list[Result]) -> Result:
    """The fastest of the repeats, carrying every repeat's rate and p99, and all their statuses."""
    top = max(runs, key=lambda r: r.rate)
    statuses: collections.Counter[str] = collections.Counter()
    for r in runs:
        statuses.update(r.statuses)
    return dataclasses.replace(
        top, statuses=dict(statuses), socket_errors=sum(r.socket_errors for r in runs),
        rates=[r.rate for r in runs], p99s=[r.p99_ms for r in runs], steals=[r.stolen for r in runs],
        samples=[s for r in runs for s in r.samples][:5],
    )


def paired_ratios(a: Result, b: Result) -> list[float]:
    """``a``'s rate over ``b``'s, round by round (``rates`` are in run order, and the runs of one round
    interleave target by target): ratios taken under the same conditions, unlike best over best."""
    return [x / y for x, y in zip(a.rates, b.rates) if y > 0] or [a.rate / b.rate if b.rate else 0.0]


def log(label: str, scenario: str, r: Result) -> None:
    print(f"[{label}] {scenario:14s} {r.rate:8,.0f} req/s  p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:7.2f} ms  "
          f"server {r.cpu_us:5.0f} us/req  wrk {r.wrk_cpu_us:4.0f} us/req  others {100 * r.foreign:3.0f}%  "
          f"steal {100 * r.stolen:3.0f}%  {r.statuses}"
          + ("  (pool exhausted)" if r.exhausted else ""), file=sys.stderr, flush=True)
    for sample in r.samples:
        print(f"[{label}] {scenario} non-2xx: {sample}", file=sys.stderr)


@dataclass
class Target:
    """A running server under test and its per-target run state."""

    label: str
    url: str
    root: int  # the pid whose process tree is the server
    scenarios: tuple[str, ...]
    runs: dict[str, list[Result]] = field(default_factory=lambda: collections.defaultdict(list))
    pool_run: str = ""  # the create run whose names mix and delete remove
    pool: dict[int, int] = field(default_factory=dict)  # wrk thread id -> last name usable
    pool_start: dict[int, int] = field(default_factory=dict)  # wrk thread id -> last name the mix deleted
    sign: dict[str, str] | None = None  # the key every request of this target is signed with


def prepare(wrk: str, target: Target, tmp: Path, args: argparse.Namespace) -> None:
    """Seed (App Mesh targets) and warm up ``target``."""
    if target.label != "no-op":  # the App Mesh servers
        t0 = time.monotonic()
        seed(target.url, args.nodes, target.sign)
        print(f"[{target.label}] seeded {args.nodes} nodes in {time.monotonic() - t0:.1f}s", file=sys.stderr)
    warm = write_script(tmp, "describe", "warm", args.nodes, args.threads, args.connections, sign=target.sign)
    run_wrk(wrk, target.url, warm, 1, args.threads, args.connections, target.label, "warm-up")


def run_scenario(wrk: str, target: Target, scenario: str, rep: int, tmp: Path, args: argparse.Namespace) -> None:
    """One run of ``scenario`` against ``target``; create fills the pool that mix and then delete use."""
    run = f"{scenario[:1]}{rep}"  # names and clientTokens: unique per server (each has its own database)
    script = write_script(tmp, scenario, run, args.nodes, args.threads, args.connections,
                          target.pool_run, target.pool, target.pool_start, sign=target.sign)
    result = measured(wrk, target.url, script, args, target.label, scenario, target.root)
    if scenario == "create":
        # Leave out each thread's last names: their creates may have been in flight when wrk stopped.
        tail = args.connections // args.threads + 1
        target.pool_run, target.pool = run, {tid: max(0, n - tail) for tid, n in result.counters.items()}
        target.pool_start = {}
    if scenario == "mix":
        target.pool_start = result.deleted
    target.runs[scenario].append(result)
    log(target.label, scenario, result)


# -- profiling ---------------------------------------------------------------------------------------

def py_spy() -> str | None:
    return shutil.which("py-spy") or (str(BIN / "py-spy") if (BIN / "py-spy").exists() else None)


def summarize_profile(files: list[Path], top: int = 15) -> str:
    """Self and inclusive shares of samples per function, from py-spy's raw (collapsed) stacks."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for path in files:
        for line in path.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            if not stack or not n.isdigit():
                continue
            count = int(n)
            frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
            frames = [f for f in frames if f.endswith(")")]  # drop the process/thread pseudo-frames
            if not frames:
                continue
            total += count
            own[frames[-1]] += count
            for f in set(frames):
                incl[f] += count
    if not total:
        return "  (no samples)\n"

    def short(frame: str) -> str:
        return re.sub(r"\(\S*?(site-packages|lib/python3\.\d+|server)/", "(", frame)

    out = [f"  {total} samples; self:"]
    out += [f"    {100 * n / total:5.1f}%  {short(f)}" for f, n in own.most_common(top)]
    out.append("  inclusive:")
    out += [f"    {100 * n / total:5.1f}%  {short(f)}" for f, n in incl.most_common(top + 15)]
    return "\n".join(out) + "\n"


def profile(wrk: str, server: MeshplaneServer, directory: Path, tmp: Path, scenario: str,
            args: argparse.Namespace) -> str:
    """Run ``scenario`` once more with py-spy sampling every worker; a summary of where they spend time.

    py-spy runs with --gil: only samples of threads holding the GIL count, i.e. Python CPU time
    (SQLite runs without the GIL and shows up only through its callers' wall time in a second pass).
    """
    spy = py_spy()
    if spy is None:
        return f"  py-spy not installed (`{BIN}/pip install py-spy`): no profile of {scenario}\n"
    text = ""
    for mode in ("gil", "wall"):
        script = write_script(tmp, scenario, f"prof{scenario[:1]}{mode[0]}", args.nodes, args.threads,
                              args.connections)
        outputs, spies = [], []
        for pid in worker_pids(server.pid):
            out = directory / f"{scenario}-{mode}-{pid}.txt"
            outputs.append(out)
            extra = ["--gil"] if mode == "gil" else []
            spies.append(subprocess.Popen(
                [spy, "record", "--pid", str(pid), "--rate", "200", "--duration",
                 str(max(1, round(args.duration))), "--format", "raw", "--nonblocking", *extra,
                 "--output", str(out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.5)
        try:
            result = run_wrk(wrk, server.endpoint, script, args.duration, args.threads, args.connections,
                             "profile", scenario)
        finally:
            for spy_proc in spies:
                try:
                    spy_proc.wait(timeout=args.duration + 30)
                except subprocess.TimeoutExpired:
                    spy_proc.kill()
                    spy_proc.wait()
        what = "GIL held (Python CPU)" if mode == "gil" else "wall time of busy threads"
        text += (f"  {scenario}, {what}: {result.rate:,.0f} req/s under py-spy, non-2xx {result.non_2xx}\n"
                 + summarize_profile([p for p in outputs if p.exists()]))
    return text


# -- the run -----------------------------------------------------------------------------------------

def _spread(r: Result) -> str:
    if len(r.rates) < 2:
        return ""
    return f" ({min(r.rates):,.0f}–{max(r.rates):,.0f})"


def latency_report(peak: Result, paced: Result, half: float, args: argparse.Namespace) -> str:
    """The summary of a ``--latency-only`` run."""
    calm = [p for p, st in zip(paced.p99s, paced.steals) if st < CALM_STEAL]
    p99 = statistics.median(calm or paced.p99s)
    runs = ", ".join(f"{p:.1f} ms (steal {100 * st:.0f}%)" for p, st in zip(paced.p99s, paced.steals))
    verdict = "met" if p99 <= 10 else "MISSED"
    return "\n".join([
        f"wrk -t{args.threads} -c{args.connections}, {args.duration:g} s per run; meshplane NORMAL on Granian "
        f"--workers {args.workers} --threads {args.server_threads}; load average before/after: "
        f"{args.load_before} / {args.load_after}",
        f"* describe peak: {peak.rate:,.0f} req/s (range of runs:{_spread(peak) or ' one run'}), {peak.cpu_us:,.0f} server CPU µs/req",
        f"* describe paced at half the peak ({half:,.0f} req/s asked, {paced.rate:,.0f} done): every run's p99: {runs}",
        f"* target: p99 at half peak {p99:.1f} ms, median of the {len(calm) or len(paced.p99s)} runs "
        f"{'with steal < 5%' if calm else '(none calm)'} (target 10): {verdict}",
    ])


def report(results: list[Result], paced: Result | None, half: float, noop: dict[str, Result],
           args: argparse.Namespace, profiles: str) -> str:
    by = {(r.target, r.scenario): r for r in results}
    mp, full, moto = "meshplane NORMAL", "meshplane FULL", "moto"
    best_of = f"best of {args.repeat} runs (range)" if args.repeat > 1 else "one run each"
    lines = [
        f"wrk -t{args.threads} -c{args.connections}, {args.duration:g} s per run, {best_of}; meshplane and "
        f"no-op: Granian (meshplane.serve.run_wsgi) --workers {args.workers} --threads {args.server_threads}; "
        f"{os.cpu_count()} CPUs shared by server and wrk; load average before/after: "
        f"{args.load_before} / {args.load_after}",
        "",
        "| operation | meshplane NORMAL req/s | p99 ms | server CPU µs/req | meshplane FULL req/s | p99 ms "
        "| moto req/s | p99 ms | server CPU µs/req | NORMAL / moto | FULL / moto | non-2xx NORMAL / FULL / moto |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for op in OPS:
        a, b, c = by.get((mp, op)), by.get((full, op)), by.get((moto, op))

        def rate(x: Result | None) -> str:
            return "n/a" if x is None else f"{x.rate:,.0f}{_spread(x)}"

        def ratio(x: Result | None) -> str:
            return f"{x.rate / c.rate:.1f}x" if x and c and c.rate else "n/a"

        def p99(x: Result | None) -> str:
            return f"{x.p99_ms:.1f}" if x else "n/a"

        def cpu(x: Result | None) -> str:
            return f"{x.cpu_us:,.0f}" if x else "n/a"

        errs = " / ".join(str(x.non_2xx) if x else "-" for x in (a, b, c))
        star = " *" if any(x and x.exhausted for x in (a, b, c)) else ""
        lines.append(
            f"| {op}{star} | {rate(a)} | {p99(a)} | {cpu(a)} | {rate(b)} | {p99(b)} | "
            f"{rate(c)} | {p99(c)} | {cpu(c)} | {ratio(a)} | {ratio(b)} | {errs} |"
        )
    lines.append("")
    for scenario, op in (("describe", "GET item"), ("create", "PUT collection, body read")):
        n, m = noop.get(scenario), by.get((mp, scenario))
        if n and m:
            lines.append(
                f"* no-op Flask route ({op}) on the same Granian setup: {n.rate:,.0f}{_spread(n)} req/s, "
                f"{n.cpu_us:,.0f} server CPU µs/req, non-2xx {n.non_2xx}; meshplane {scenario} reaches "
                f"{100 * m.rate / n.rate:.0f}% of its throughput ({100 * n.cpu_us / m.cpu_us:.0f}% by CPU per request)"
            )
    if paced is not None:
        p99s = ", ".join(f"{p:.1f} ms (steal {100 * st:.0f}%)" for p, st in zip(paced.p99s, paced.steals))
        lines.append(
            f"* describe paced at half the peak ({half:,.0f} req/s asked, {paced.rate:,.0f} done): p50 "
            f"{paced.p50_ms:.2f} ms, p99 {statistics.median(paced.p99s):.2f} ms (median of all runs), "
            f"max {paced.max_ms:.1f} ms, non-2xx {paced.non_2xx}; every run: {p99s}"
        )
    others = {f"{r.target}/{r.scenario}": f"{100 * r.foreign:.0f}% + {100 * r.stolen:.0f}%"
              for r in [*results, *noop.values(), *([paced] if paced else [])]}
    lines.append("* CPU share other processes + the hypervisor (steal) took during the runs kept (the "
                 f"machine is shared): {others}")
    wrk_cpu = {r.scenario: round(r.wrk_cpu_us) for r in results if r.target == mp}
    lines.append(f"* wrk's own CPU µs per request (meshplane NORMAL runs): {wrk_cpu}")
    mix = by.get((mp, "mix"))
    if mix is not None:
        lines.append(f"* mix requests sent (meshplane NORMAL, best run): {dict(sorted(mix.ops.items()))}")
    statuses = {f"{r.target}/{r.scenario}": r.statuses for r in [*results, *noop.values()]}
    lines.append(f"* statuses, all runs: {json.dumps(statuses)}")
    socket = {f"{r.target}/{r.scenario}": r.socket_errors for r in results if r.socket_errors}
    lines.append(f"* wrk socket errors: {socket or 'none'}")
    if any(r.exhausted for r in results):
        lines.append("* `*`: a delete run used up the nodes its create run made; its rate is over the time "
                     "until the last wrk thread ran out")
    m_c, m_d, m_o = by.get((mp, "create")), by.get((mp, "describe")), by.get((moto, "create"))
    checks = []
    if m_c:
        checks.append(f"creates {m_c.rate:,.0f}/s (target 1,000): {'met' if m_c.rate >= 1000 else 'MISSED'}")
    if m_d:
        checks.append(f"describes {m_d.rate:,.0f}/s (target 3,000): {'met' if m_d.rate >= 3000 else 'MISSED'}")
    if paced:
        # Latency measured while the hypervisor withholds the CPUs is the host's, not ours: the
        # verdict uses the runs with under 5% steal when there are any (every run is listed above).
        calm = [p for p, st in zip(paced.p99s, paced.steals) if st < CALM_STEAL]
        p99 = statistics.median(calm or paced.p99s)
        which = f"median of the {len(calm)} runs with steal < 5%" if calm else "median of all runs (none calm)"
        checks.append(f"p99 at half peak {p99:.1f} ms, {which} (target 10): {'met' if p99 <= 10 else 'MISSED'}")
    ratios = [by[(t, op)].rate / by[(moto, op)].rate for t in (mp, full) for op in OPS
              if (t, op) in by and (moto, op) in by and by[(moto, op)].rate]
    if ratios and m_o:
        checks.append(f"lowest meshplane/moto ratio {min(ratios):.1f}x (target 2x): "
                      f"{'met' if min(ratios) >= 2 else 'MISSED'}")
    if m_d and "describe" in noop:
        share = m_d.rate / noop["describe"].rate
        checks.append(f"describe share of no-op {100 * share:.0f}% (target 50%): {'met' if share >= 0.5 else 'MISSED'}")
    lines.append("* targets: " + "; ".join(checks))
    signed = [(op, by[(SIGNED_LABEL, op)], by[(mp, op)]) for op in OPS if (SIGNED_LABEL, op) in by and (mp, op) in by]
    if signed:
        baseline = ("the same signed requests (wrk signs for both; this server never checks)"
                    if args.auth_only else "unsigned requests")
        lines += ["", f"SigV4 ({SIGNED_LABEL}: every request signed by wrk, verified and its policy evaluated) "
                  f"against meshplane NORMAL without authentication, given {baseline}, same run:", "",
                  "| operation | sigv4 req/s | p99 ms | server CPU µs/req | no auth req/s | best / best | "
                  "same round: median (each) | non-2xx |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        medians: dict[str, float] = {}
        for op, a, b in signed:
            rounds = paired_ratios(a, b)
            medians[op] = statistics.median(rounds)
            each = ", ".join(f"{100 * r:.0f}" for r in rounds)
            lines.append(f"| {op} | {a.rate:,.0f}{_spread(a)} | {a.p99_ms:.1f} | {a.cpu_us:,.0f} | "
                         f"{b.rate:,.0f}{_spread(b)} | {100 * a.rate / b.rate:.0f}% | "
                         f"{100 * medians[op]:.0f}% ({each}) | {a.non_2xx} |")
        verdicts = [f"{op} {100 * medians[op]:.0f}% ({'met' if medians[op] >= 0.85 else 'MISSED'})"
                    for op in ("describe", "create") if op in medians]
        lines.append("* target, sigv4 throughput ≥ 85% of without (median of the same-round ratios: the two "
                     "servers' runs of one round are seconds apart, their best runs may be minutes apart): "
                     + "; ".join(verdicts))
    if profiles:
        lines += ["", "Profiles (py-spy on meshplane NORMAL's workers):", "```", profiles.rstrip(), "```"]
    return "\n".join(lines) + "\n"


# -- storage backends (--backends) -------------------------------------------------------------------

BACKEND_SCENARIOS = ("describe", "create")
PG_ONE, PG_TWO, SQLITE = "PostgreSQL, 1 replica", "PostgreSQL, 2 replicas", "SQLite"


@dataclass
class Replicated:
    """A ``--backends`` target: one or several `meshplane serve` processes over one database, each
    given an equal share of wrk's threads and connections; ``db_pids`` lists the database server's
    processes (PostgreSQL's), whose CPU counts as the target's too."""

    label: str
    servers: list[MeshplaneServer]
    db_pids: Any = None  # () -> list[int]
    runs: dict[str, list[Result]] = field(default_factory=lambda: collections.defaultdict(list))
    db_cpu: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))


def start_pg_replicas(tmp: Path, url: str, name: str, count: int, workers: int, threads: int) -> list[MeshplaneServer]:
    """``count`` `meshplane serve` replicas (API only) over the PostgreSQL database ``url``, started
    one after the other (the first applies the migrations)."""
    env = env_with_venv({"MESHPLANE_QUOTA_VIRTUALNODES": "1000000", "MESHPLANE_LOG_LEVEL": "warning"})
    return [MeshplaneServer(url, tmp / f"{name}-{k}.log", "--workers", str(workers), "--threads", str(threads),
                            "--replica-id", f"{name}-{k}", env=env) for k in range(count)]


def measured_replicated(wrk: str, target: Replicated, scenario: str, rep: int, tmp: Path,
                        args: argparse.Namespace) -> Result:
    """One run of ``scenario`` against every server of ``target`` at once (one wrk each, sharing
    ``--threads`` and ``--connections``); one Result: requests and statuses added up, the elapsed time
    of the longest, p50 the request-weighted mean of the wrk processes' p50s, p99 and max their highest.
    Server CPU per request covers every meshplane process and PostgreSQL's."""
    if args.max_wait > 0:
        wait_quiet(args.max_wait)
    share = len(target.servers)
    threads = max(1, args.threads // share)
    connections = max(threads, args.connections // share)
    meshplane = [pid for server in target.servers for pid in (server.pid, *worker_pids(server.pid))]
    db = target.db_pids() if target.db_pids else []
    before_mp, before_db, (busy0, stolen0, total0) = cpu_seconds(meshplane), cpu_seconds(db), machine_cpu()
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    outcomes: list[Result | BaseException] = [RuntimeError("not run")] * share

    def one(k: int) -> None:
        # Names and clientTokens are unique per wrk process (``run``), since they share a database.
        script = write_script(tmp, scenario, f"{scenario[:1]}{rep}x{k}", args.nodes, threads, connections)
        try:
            outcomes[k] = run_wrk(wrk, target.servers[k].endpoint, script, args.duration, threads, connections,
                                  target.label, scenario)
        except BaseException as exc:  # reported below, on the main thread
            outcomes[k] = exc

    runners = [threading.Thread(target=one, args=(k,)) for k in range(share)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    parts: list[Result] = [o for o in outcomes if isinstance(o, Result)]
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_mp, server_db, (busy1, stolen1, total1) = cpu_seconds(meshplane) - before_mp, cpu_seconds(db) - before_db, \
        machine_cpu()
    requests = sum(r.requests for r in parts)
    statuses: collections.Counter[str] = collections.Counter()
    for r in parts:
        statuses.update(r.statuses)
    result = Result(
        target=target.label, scenario=scenario, requests=requests, seconds=max(r.seconds for r in parts),
        p50_ms=sum(r.p50_ms * r.requests for r in parts) / max(1, requests),
        p99_ms=max(r.p99_ms for r in parts), max_ms=max(r.max_ms for r in parts), statuses=dict(statuses),
        socket_errors=sum(r.socket_errors for r in parts), exhausted=False,
        samples=[s for r in parts for s in r.samples][:5],
    )
    wrk_cpu = (wrk_after.ru_utime - wrk_before.ru_utime) + (wrk_after.ru_stime - wrk_before.ru_stime)
    span = max(1e-9, total1 - total0)
    result.stolen = (stolen1 - stolen0) / span
    if requests:
        result.cpu_us = 1e6 * (server_mp + server_db) / requests
        result.wrk_cpu_us = 1e6 * wrk_cpu / requests
        result.foreign = max(0.0, (busy1 - busy0) - server_mp - server_db - wrk_cpu) / span
    result.rates, result.p99s, result.steals = [result.rate], [result.p99_ms], [result.stolen]
    target.db_cpu[scenario].append(1e6 * server_db / max(1, requests))
    return result


def backends_report(targets: list[Replicated], args: argparse.Namespace) -> str:
    """The ``--backends`` table: each target's best run per scenario, and the ratios to SQLite."""
    by = {t.label: {s: best(t.runs[s]) for s in BACKEND_SCENARIOS if t.runs[s]} for t in targets}
    db_cpu = {t.label: {s: min(t.db_cpu[s]) for s in BACKEND_SCENARIOS if t.db_cpu[s]} for t in targets}
    best_of = f"best of {args.repeat} runs (range)" if args.repeat > 1 else "one run each"
    lines = [
        f"wrk -t{args.threads} -c{args.connections} in total (2 replicas: two wrk at once, each half of it), "
        f"{args.duration:g} s per run, {best_of}; every meshplane: Granian --workers {args.workers} --threads "
        f"{args.server_threads}, API only; {args.nodes} nodes in the read set; {os.cpu_count()} CPUs shared by "
        f"servers, PostgreSQL and wrk; load average before/after: {args.load_before} / {args.load_after}",
        "",
        "| operation | target | req/s | p50 ms | p99 ms | server CPU µs/req (of which PostgreSQL) | vs SQLite | non-2xx |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in BACKEND_SCENARIOS:
        base = by.get(SQLITE, {}).get(scenario)
        for target in targets:
            r = by[target.label].get(scenario)
            if r is None:
                continue
            ratio = f"{r.rate / base.rate:.2f}x" if base and base.rate else "n/a"
            pg = db_cpu[target.label].get(scenario, 0.0)
            of_pg = f" ({pg:,.0f})" if target.db_pids else ""
            lines.append(f"| {scenario} | {target.label} | {r.rate:,.0f}{_spread(r)} | {r.p50_ms:.2f} | "
                         f"{r.p99_ms:.1f} | {r.cpu_us:,.0f}{of_pg} | {ratio} | {r.non_2xx} |")
    lines.append("")
    lines.append("* 2 replicas: p50 is the request-weighted mean of the two wrk processes' p50s, p99 the higher "
                 "of their p99s")
    others = {f"{label}/{s}": f"{100 * r.foreign:.0f}% + {100 * r.stolen:.0f}%"
              for label, runs in by.items() for s, r in runs.items()}
    lines.append(f"* CPU share other processes + the hypervisor (steal) took during the runs kept: {others}")
    statuses = {f"{label}/{s}": r.statuses for label, runs in by.items() for s, r in runs.items()}
    lines.append(f"* statuses, all runs: {json.dumps(statuses)}")
    # The targets are for one replica on PostgreSQL; two replicas on these 2 cores share them
    # with PostgreSQL and two load generators, so their figures are reported, not held to a target.
    checks = []
    d, c = by.get(PG_ONE, {}).get("describe"), by.get(PG_ONE, {}).get("create")
    if d:
        checks.append(f"{PG_ONE} describe {d.rate:,.0f}/s (target 1,500): {'met' if d.rate >= 1500 else 'MISSED'}")
    if c:
        checks.append(f"{PG_ONE} create {c.rate:,.0f}/s (target 400): {'met' if c.rate >= 400 else 'MISSED'}")
    lines.append("* targets: " + "; ".join(checks))
    return "\n".join(lines) + "\n"


def backends_main(args: argparse.Namespace, wrk: str) -> None:
    """``--backends``: SQLite, PostgreSQL with one replica, PostgreSQL with two, in one run."""
    from pgserver import PostgresServer

    targets: list[Replicated] = []
    with tempfile.TemporaryDirectory(prefix="meshplane-bench-backends-") as tmp_name, \
            contextlib.ExitStack() as stack:
        tmp = Path(tmp_name)
        pg = PostgresServer(fast=False, max_connections=300)
        stack.callback(pg.stop)

        def pg_pids() -> list[int]:
            return [pg.pid, *worker_pids(pg.pid)] if pg.pid else []

        sqlite = start_meshplane(tmp, "sqlite", "NORMAL", args.workers, args.server_threads)
        stack.callback(sqlite.stop)
        targets.append(Replicated(SQLITE, [sqlite]))
        for label, name, count in ((PG_ONE, "single", 1), (PG_TWO, "replicas", 2)):
            servers = start_pg_replicas(tmp, pg.create_database(name), name, count, args.workers, args.server_threads)
            for server in servers:
                stack.callback(server.stop)
            targets.append(Replicated(label, servers, pg_pids))
        for target in targets:
            for server in target.servers:
                _wait_ready(server.endpoint, "/healthz")
            started = time.monotonic()
            seed(target.servers[0].endpoint, args.nodes)
            print(f"[{target.label}] seeded {args.nodes} nodes in {time.monotonic() - started:.1f}s", file=sys.stderr)
            for server in target.servers:  # warm every worker's connections and caches
                warm = write_script(tmp, "describe", "warm", args.nodes, args.threads, args.connections)
                run_wrk(wrk, server.endpoint, warm, 1, args.threads, args.connections, target.label, "warm-up")
        for rep in range(args.repeat):
            for scenario in BACKEND_SCENARIOS:
                for target in targets:
                    result = measured_replicated(wrk, target, scenario, rep, tmp, args)
                    target.runs[scenario].append(result)
                    log(target.label, scenario, result)
                    db = target.db_cpu[scenario][-1]
                    if target.db_pids:
                        print(f"[{target.label}] {scenario}: of the server CPU, PostgreSQL {db:,.0f} us/req",
                              file=sys.stderr)
        args.load_after = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        print("Command: " + " ".join([".venv/bin/python", "bench/api.py", *sys.argv[1:]]))
        print(backends_report(targets, args))
        if args.json:
            runs = [r.__dict__ | {"rate": r.rate} for t in targets for s in BACKEND_SCENARIOS for r in t.runs[s]]
            Path(args.json).write_text(json.dumps(runs, indent=1))



def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (default 5)")
    parser.add_argument("--repeat", type=int, default=1, help="run every scenario N times, keep the best (default 1)")
    parser.add_argument("--quick", action="store_true",
                        help="2 s runs, 100 nodes, once; meshplane NORMAL and moto only")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--nodes", type=int, default=500, help="size of the pre-created read set (default 500)")
    parser.add_argument("--workers", type=int, default=2, help="meshplane and no-op API workers (default 2)")
    parser.add_argument("--server-threads", type=int, default=Config().threads,
                        help=f"threads per worker (default {Config().threads}, meshplane's own default)")
    parser.add_argument("--paced-repeat", type=int, default=5,
                        help="runs of the paced describe (default 5; at least --repeat)")
    parser.add_argument("--skip-moto", action="store_true", help="do not run moto")
    parser.add_argument("--max-wait", type=float, default=60.0,
                        help="before each run, wait up to S seconds for other processes to go quiet (default 60; 0: never)")
    parser.add_argument("--latency-only", action="store_true",
                        help="meshplane NORMAL only: describe at its peak (best of --repeat), then paced at half "
                             "of it (--paced-repeat runs): the p99 target alone, to re-check on a calmer machine")
    parser.add_argument("--auth", action="store_true",
                        help="also run meshplane NORMAL with --auth sigv4 (every request SigV4-signed by wrk, "
                             "a policy-scoped key) and compare it with meshplane NORMAL")
    parser.add_argument("--auth-only", action="store_true",
                        help="meshplane NORMAL with and without --auth sigv4 only (no FULL, moto, no-op, paced)")
    parser.add_argument("--profile", metavar="DIR", help="also profile describe and create with py-spy into DIR")
    parser.add_argument("--json", metavar="PATH", help="write every figure to PATH")
    parser.add_argument("--backends", action="store_true",
                        help="describe and create on SQLite, PostgreSQL (one replica) and PostgreSQL (two replicas, "
                             "load spread over both) in one run; PostgreSQL started by the script, fsync on")
    args = parser.parse_args()
    if args.quick:
        args.duration = min(args.duration, 2.0)
        args.nodes = min(args.nodes, 100)
        args.repeat = args.paced_repeat = 1
    if args.auth_only:
        args.auth, args.skip_moto, args.paced_repeat = True, True, 0
    args.nodes = max(args.nodes, 100)  # a list page is 100 items
    args.load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    wrk = ensure_wrk()
    if args.backends:
        backends_main(args, wrk)
        return
    results: list[Result] = []
    noop: dict[str, Result] = {}
    paced: Result | None = None
    half = 0.0
    profiles = ""
    with tempfile.TemporaryDirectory(prefix="meshplane-bench-api-") as tmp_name, \
            contextlib.ExitStack() as stack:
        tmp = Path(tmp_name)
        # Every server runs from the start (idle ones cost nothing) and the runs interleave target by
        # target, scenario by scenario: a comparison is made minutes apart at most, never across a
        # change of weather on this shared machine.
        targets: list[Target] = []
        servers: dict[str, MeshplaneServer] = {}
        for sync in ("NORMAL",) if args.quick or args.latency_only or args.auth_only else ("NORMAL", "FULL"):
            label = f"meshplane {sync}"
            server = start_meshplane(tmp, sync.lower(), sync, args.workers, args.server_threads)
            stack.callback(server.stop)
            _wait_ready(server.endpoint, "/healthz")
            servers[label] = server
            targets.append(Target(label, server.endpoint, server.pid, ("describe",) if args.latency_only else OPS))
        if args.auth and not args.latency_only:
            server, sign = start_signed(tmp, args.workers, args.server_threads)
            stack.callback(server.stop)
            _wait_ready(server.endpoint, "/healthz")
            targets.append(Target(SIGNED_LABEL, server.endpoint, server.pid, OPS, sign=sign))
            if args.auth_only:
                # Every SDK signs, whether or not the server checks: the unauthenticated server gets
                # the same signed requests (an unknown key it never looks at), so that the two differ
                # only in the server's verification and policy evaluation, not in wrk's signing work.
                targets[0].sign = {**sign, "akid": "AKIDNOTCHECKED000000", "secret": "not-checked"}
        if not args.skip_moto and not args.latency_only:
            proc, url = start_moto(tmp)
            stack.callback(proc.stop)
            targets.append(Target("moto", url, proc.pid, OPS))
        if not args.quick and not args.latency_only and not args.auth_only:
            proc, url = start_noop(tmp, args.workers, args.server_threads)
            stack.callback(proc.stop)
            targets.append(Target("no-op", url, proc.pid, ("describe", "create")))
        for target in targets:
            prepare(wrk, target, tmp, args)
        for rep in range(args.repeat):
            for scenario in ("describe", "list", "update", "create", "mix", "delete"):
                for target in targets:
                    if scenario in target.scenarios:
                        run_scenario(wrk, target, scenario, rep, tmp, args)
        for target in targets:
            best_runs = {scenario: best(target.runs[scenario]) for scenario in target.scenarios}
            if target.label == "no-op":
                noop = best_runs
            else:
                results += [best_runs[scenario] for scenario in target.scenarios]
        label = "meshplane NORMAL"
        server = servers[label]
        half = next(r for r in results if r.target == label and r.scenario == "describe").rate / 2
        runs = []
        for rep in range(max(args.repeat, args.paced_repeat) if args.paced_repeat else 0):
            script = write_script(tmp, "paced", f"p{rep}", args.nodes, args.threads, args.connections, rate=half)
            runs.append(measured(wrk, server.endpoint, script, args, label, "describe paced", server.pid))
            log(label, f"paced {half:,.0f}/s", runs[-1])
        paced = best(runs) if runs else None
        if args.profile:
            pdir = Path(args.profile)
            pdir.mkdir(parents=True, exist_ok=True)
            for scenario in ("describe", "create"):
                profiles += profile(wrk, server, pdir, tmp, scenario, args)
    args.load_after = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    if args.latency_only:
        assert paced is not None
        print(latency_report(results[0], paced, half, args))
    else:
        print(report(results, paced, half, noop, args, profiles))
    if args.json:
        everything = [*results, *noop.values(), *([paced] if paced else [])]
        Path(args.json).write_text(json.dumps([r.__dict__ | {"rate": r.rate} for r in everything], indent=1))


if __name__ == "__main__":
    main()
