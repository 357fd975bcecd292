# Sourced by the bench scripts (after they set T, their temp dir): free loopback ports, waiting
# for a server, and the peer registry they share.

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# Wait (10 s at most) until URL answers 2xx; give up naming it.
up() { for _ in $(seq 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }

# Debian's docker-registry (filesystem storage in $T/registry-data) on 127.0.0.1:PORT, its pid in
# $T/registry.pid; returns once /v2/ answers. LOG: extra settings for its `log:` map.
start_registry() {
  local port=$1 log=${2:-}
  cat > "$T/registry.yml" <<Y
version: 0.1
log: {level: error${log:+, $log}}
storage: {filesystem: {rootdirectory: $T/registry-data}}
http: {addr: 127.0.0.1:$port}
Y
  docker-registry serve "$T/registry.yml" > "$T/registry.log" 2>&1 & echo $! > "$T/registry.pid"
  up "http://127.0.0.1:$port/v2/"
}
