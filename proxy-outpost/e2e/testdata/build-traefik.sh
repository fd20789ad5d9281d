#!/usr/bin/env bash
# Builds the Traefik that e2e/traefik_test.go runs, from the Go module proxy:
#   proxy-outpost/e2e/testdata/build-traefik.sh /usr/local/bin/traefik
# `go install github.com/traefik/traefik/v3/cmd/traefik@v3.7.13` refuses
# Traefik's go.mod (replace directives), and the module proxy here serves
# neither the nested dynamic/ext module, nor Traefik's go-http-auth fork,
# nor the SDKs of 13 ACME DNS providers. So this build, in a temporary
# directory, uses an empty dynamic/ext (only empty extension structs
# upstream), upstream go-http-auth v0.4.0 with the basic/digest auth
# middlewares stubbed (they refuse every password), and lego without those
# DNS providers. The entry points, routers, file provider and forwardAuth
# middleware the test exercises are Traefik's own code, unchanged.
# About 7 minutes of 2 cores with an empty build cache.
set -euo pipefail
out=${1:?usage: build-traefik.sh OUTPUT}
version=v3.7.13
lego=v5.4.1
drop="alidns aliesa azion dnsimple edgedns edgeone huaweicloud oraclecloud regfish sakuracloud tencentcloud ucloud yandexcloud"
export GOWORK=off GOFLAGS=-mod=mod
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
src=$(go mod download -json "github.com/traefik/traefik/v3@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
legosrc=$(go mod download -json "github.com/go-acme/lego/v5@$lego" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
go mod download github.com/abbot/go-http-auth@v0.4.0
cp -r "$src" "$work/traefik" && cp -r "$legosrc" "$work/lego" && chmod -R u+w "$work"

cd "$work/lego/providers/dns"
rm -f dns_providers_test.go
python3 - "$drop" <<'PY'
import sys
drop = sys.argv[1].split()
p = "zz_gen_dns_providers.go"
lines = open(p).read().split("\n")
out, skip = [], False
for i, l in enumerate(lines):
    if skip:
        skip = False
        continue
    if any(l.strip() == '"github.com/go-acme/lego/v5/providers/dns/%s"' % d for d in drop):
        continue
    if l.strip().startswith("case ") and any(lines[i + 1].strip().startswith("return %s." % d) for d in drop):
        skip = True
        continue
    out.append(l)
open(p, "w").write("\n".join(out))
PY

cd "$work/traefik"
mkdir -p pkg/config/dynamic/ext
printf 'module github.com/traefik/traefik/dynamic/ext\n\ngo 1.26\n' > pkg/config/dynamic/ext/go.mod
printf 'package ext\n\ntype HTTP struct{}\n\ntype Router struct{}\n' > pkg/config/dynamic/ext/ext.go
sed -i 's|github.com/abbot/go-http-auth => github.com/containous/go-http-auth .*|github.com/abbot/go-http-auth => github.com/abbot/go-http-auth v0.4.0|' go.mod
printf '\nreplace github.com/go-acme/lego/v5 => %s\n' "$work/lego" >> go.mod
sed -i 's|checkSecret:       goauth.CheckSecret,|checkSecret:       func(string, string) bool { return false },|' pkg/middlewares/auth/basic_auth.go
sed -i 's|d.auth.RequireAuthStale(rw, req)|d.auth.RequireAuth(rw, req)|' pkg/middlewares/auth/digest_auth.go
go build -trimpath -ldflags="-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$version" -o "$out" ./cmd/traefik
"$out" version
