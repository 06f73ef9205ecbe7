#!/usr/bin/env bash
# Quickstart, end to end: build Bulwark, start it with a fresh data
# directory, create two tenants from the command line, activate and log in
# their owners over the API, and use records in tenant A while tenant B
# cannot see them. Every step checks the HTTP status it expects; the script
# exits 0 only if all of them matched.
#
# Needs: bash, curl and the Go toolchain. python3 is used to read JSON when
# present, grep and sed otherwise.
#
#   examples/quickstart.sh            (KEEP=1 keeps the temp directory)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-quickstart.XXXXXX")
data="$tmp/data"
bin="$tmp/bulwark"
server_pid=""

cleanup() {
	local rc=$?
	if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	if [[ $rc -ne 0 && -f "$tmp/serve.log" ]]; then
		echo "--- last server log lines ---" >&2
		tail -n 20 "$tmp/serve.log" >&2 || true
	fi
	if [[ "${KEEP:-}" == 1 ]]; then
		echo "kept $tmp"
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step=0
say() {
	step=$((step + 1))
	printf '\n==> %2d. %s\n' "$step" "$*"
}
die() {
	echo "FAIL: $*" >&2
	exit 1
}

# json_get FILE PATH prints the string or number at PATH (such as
# "tenant.id") in the JSON document in FILE.
json_get() {
	if command -v python3 >/dev/null 2>&1; then
		python3 - "$1" "$2" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v)
PY
	else
		# Good enough for the flat, first-match lookups below.
		local key=${2##*.}
		grep -o "\"$key\": *\"[^\"]*\"" "$1" | head -n 1 | sed 's/.*: *"\(.*\)"/\1/'
	fi
}

# call NAME METHOD PATH TOKEN BODY WANT [HEADER...]
# Sends one request, prints it and its status, and fails unless the status
# is WANT. The response body is left in $tmp/body, the headers in
# $tmp/headers.
call() {
	local name=$1 method=$2 path=$3 token=$4 body=$5 want=$6
	shift 6
	local args=(-sS --cacert "$data/ca.pem" -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -X "$method")
	if [[ -n "$token" ]]; then args+=(-H "Authorization: Bearer $token"); fi
	if [[ -n "$body" ]]; then args+=(-H 'Content-Type: application/json' --data-binary "$body"); fi
	for h in "$@"; do args+=(-H "$h"); done
	local got
	got=$(curl "${args[@]}" "$base$path") || die "$name: curl failed"
	printf '    %-6s %-55s -> %s\n' "$method" "$path" "$got"
	if [[ "$got" != "$want" ]]; then
		echo "    response body:" >&2
		sed 's/^/      /' "$tmp/body" >&2 || true
		echo >&2
		die "$name: got HTTP $got, want $want"
	fi
}

header() { grep -i "^$1:" "$tmp/headers" | head -n 1 | sed 's/^[^:]*: *//' | tr -d '\r'; }

say "Build the bulwark binary"
(cd "$repo" && go build -o "$bin" ./cmd/bulwark)
echo "    $bin"

say "Start bulwark serve with a fresh data directory on a free port"
"$bin" serve --data "$data" --addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 >"$tmp/serve.out" 2>"$tmp/serve.log" &
server_pid=$!
base=""
for _ in $(seq 1 300); do
	base=$(sed -n 's/^Bulwark is serving //p' "$tmp/serve.out")
	[[ -n "$base" ]] && break
	kill -0 "$server_pid" 2>/dev/null || die "the server exited during start-up"
	sleep 0.1
done
[[ -n "$base" ]] || die "the server printed no address within 30s"
sed 's/^/    /' "$tmp/serve.out"

say "Wait for /healthz over HTTPS, trusting only the generated CA"
for _ in $(seq 1 100); do
	if curl -sSf --cacert "$data/ca.pem" "$base/healthz" >/dev/null 2>&1; then break; fi
	sleep 0.1
done
call healthz GET /healthz "" "" 200
call readyz GET /readyz "" "" 200

say "Create tenants acme and globex with the command line"
export BULWARK_DATA="$data" BULWARK_LOG_LEVEL=warn
"$bin" tenant create acme --name "Acme Inc" --admin-email ada@acme.example --json >"$tmp/acme.json"
"$bin" tenant create globex --name "Globex" --admin-email hank@globex.example --json >"$tmp/globex.json"
token_a=$(json_get "$tmp/acme.json" activation_token)
token_b=$(json_get "$tmp/globex.json" activation_token)
[[ -n "$token_a" && -n "$token_b" ]] || die "no activation tokens printed"
echo "    acme:   activation token ${token_a:0:12}... for ada@acme.example"
echo "    globex: activation token ${token_b:0:12}... for hank@globex.example"
"$bin" tenant list | sed 's/^/    /'

say "Activate both owners: each chooses a password with the one-time token"
pw_a="correct horse battery staple acme"
pw_b="correct horse battery staple globex"
call "activate acme" POST /api/v1/auth/activate "" "{\"token\":\"$token_a\",\"password\":\"$pw_a\"}" 204
call "activate globex" POST /api/v1/auth/activate "" "{\"token\":\"$token_b\",\"password\":\"$pw_b\"}" 204
call "reuse the token" POST /api/v1/auth/activate "" "{\"token\":\"$token_a\",\"password\":\"$pw_a\"}" 410

say "Log both owners in"
call "login acme" POST /api/v1/auth/login "" "{\"tenant\":\"acme\",\"email\":\"ada@acme.example\",\"password\":\"$pw_a\"}" 200
sess_a=$(json_get "$tmp/body" token)
call "login globex" POST /api/v1/auth/login "" "{\"tenant\":\"globex\",\"email\":\"hank@globex.example\",\"password\":\"$pw_b\"}" 200
sess_b=$(json_get "$tmp/body" token)
call "wrong password" POST /api/v1/auth/login "" "{\"tenant\":\"acme\",\"email\":\"ada@acme.example\",\"password\":\"not the password at all\"}" 401
call "who am I" GET /api/v1/auth/me "$sess_a" "" 200

say "Define collection customers in acme, with a personal field"
call "create collection" POST /api/v1/collections "$sess_a" '{"name":"customers","fields":[
  {"name":"name","type":"text","classification":"internal","required":true},
  {"name":"email","type":"email","classification":"personal"},
  {"name":"plan","type":"text","classification":"public"}]}' 201
call "read collection" GET /api/v1/collections/customers "$sess_a" "" 200

say "Create a record"
call "create record" POST /api/v1/collections/customers/records "$sess_a" \
	'{"name":"Grace Hopper","email":"grace@example.com","plan":"free"}' 201
id=$(json_get "$tmp/body" id)
etag=$(header ETag)
[[ -n "$id" && -n "$etag" ]] || die "no record id or ETag"
echo "    record id $id, ETag $etag"

say "Read it back"
call "get record" GET "/api/v1/collections/customers/records/$id" "$sess_a" "" 200
grep -q 'grace@example.com' "$tmp/body" || die "the personal field did not come back"

say "Update it with If-Match; a stale ETag is refused"
call "update record" PATCH "/api/v1/collections/customers/records/$id" "$sess_a" '{"plan":"pro"}' 200 "If-Match: $etag"
new_etag=$(header ETag)
[[ "$new_etag" != "$etag" ]] || die "the ETag did not change"
call "stale update" PATCH "/api/v1/collections/customers/records/$id" "$sess_a" '{"plan":"team"}' 412 "If-Match: $etag"

say "List the collection's records"
call "list records" GET /api/v1/collections/customers/records "$sess_a" "" 200
grep -q "$id" "$tmp/body" || die "the record is not in the list"

say "Tenant globex cannot see acme's record: 404, as if it did not exist"
call "globex reads acme's record" GET "/api/v1/collections/customers/records/$id" "$sess_b" "" 404
call "globex updates acme's record" PATCH "/api/v1/collections/customers/records/$id" "$sess_b" '{"plan":"evil"}' 404
call "globex deletes acme's record" DELETE "/api/v1/collections/customers/records/$id" "$sess_b" "" 404
call "globex lists collections" GET /api/v1/collections "$sess_b" "" 200
if grep -q customers "$tmp/body"; then die "globex sees acme's collection"; fi
call "no token" GET "/api/v1/collections/customers/records/$id" "" "" 401

say "Delete the record (If-Match), then it is gone"
call "delete record" DELETE "/api/v1/collections/customers/records/$id" "$sess_a" "" 204 "If-Match: $new_etag"
call "get deleted record" GET "/api/v1/collections/customers/records/$id" "$sess_a" "" 404

say "Stop the server (SIGTERM) and check it exits cleanly"
kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=""
[[ $rc -eq 0 ]] || die "bulwark serve exited $rc after SIGTERM"
grep -q '"msg":"stopped"' "$tmp/serve.log" || die "no clean shutdown in the log"
echo "    exit 0"

printf '\nquickstart: all %d steps passed\n' "$step"
