#!/bin/sh
# Tuning Service run wrapper. It is started as the leader of a new process group
# (setsid in a container, a new session on the host), so $$ is the group id that
# cancel signals. It records that id in `pid`, sends the command's stdout and
# stderr to `output.log`, and writes `exit_code` when the command ends, so the
# truth of a run is on disk and outlives the service.
# usage: sh wrapper.sh WORKSPACE WORKDIR COMMAND [ARG...]
ws="$1"
wd="$2"
shift 2
echo $$ > "$ws/pid.tmp" && mv "$ws/pid.tmp" "$ws/pid"
# In a Slurm job: a distributed launcher on every node meets on the job's first node.
if [ -n "${SLURM_JOB_NODELIST:-}" ] && [ -z "${MASTER_ADDR:-}" ]; then
    MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" 2> /dev/null | head -n 1)
    [ -n "$MASTER_ADDR" ] && export MASTER_ADDR
fi
# Trapped (not ignored), so the command still gets TERM from the group signal,
# and this shell lives on to record the exit code.
trap 'echo "[tuning] SIGTERM received" >> "$ws/output.log"' TERM
if cd "$wd" 2>> "$ws/output.log"; then
    "$@" >> "$ws/output.log" 2>&1 < /dev/null &
    child=$!
    wait "$child"
    code=$?
    while kill -0 "$child" 2> /dev/null; do
        wait "$child"
        code=$?
    done
else
    echo "[tuning] working directory not found: $wd" >> "$ws/output.log"
    code=127
fi
echo "$code" > "$ws/exit_code.tmp" && mv "$ws/exit_code.tmp" "$ws/exit_code"
