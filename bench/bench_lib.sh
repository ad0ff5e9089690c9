# shellcheck shell=bash
# What the bench scripts share (sourced by bench/peers/run_peers.sh and
# bench/security/run_security_bench.sh): the processes a script started, stopped by PID only
# (TERM, up to 5 s, then KILL); a free loopback port; a bounded wait for a port to listen.

pids=()  # append the PID of every process the script starts: pids+=($!)

stop_started() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() {  # port: up to 10 s
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
