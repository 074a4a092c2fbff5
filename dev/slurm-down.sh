#!/usr/bin/env bash
# dev/slurm-down.sh — stop the Slurm that dev/slurm-up.sh started: cancel its jobs, then stop the
# slurmd(s), slurmctld and (if slurm-up.sh started it) munged, by the pid files in $SLURM_RUN_DIR
# only; never by process name. Packages, /etc/slurm, /etc/hosts entries and job state stay.
#
#   sudo dev/slurm-down.sh                # everything slurm-up.sh started
#   sudo dev/slurm-down.sh --slurm-only   # keep munged running
set -uo pipefail
RUN=${SLURM_RUN_DIR:-/tmp/batchai-slurm}
SLURM_ONLY=0
[[ ${1:-} == --slurm-only ]] && SLURM_ONLY=1
log() { echo "slurm-down: $*"; }

running() {  # running PID: the process exists and is not a zombie (init may reap late here)
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  [[ ${stat##*) } != Z* ]]
}
pid_of() {  # pid_of PIDFILE COMM: print the pid if it is running and named COMM
  local pf=$1 comm=$2 pid
  [[ -s $pf ]] || return 1
  pid=$(tr -dc 0-9 <"$pf")
  [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm" ]] && running "$pid" || return 1
  echo "$pid"
}
stop_pidfile() {  # stop_pidfile PIDFILE COMM
  local pf=$1 comm=$2 pid
  if pid=$(pid_of "$pf" "$comm"); then
    log "stopping $comm (pid $pid)"
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do running "$pid" || break; sleep 0.1; done
    if running "$pid"; then
      log "$comm $pid ignored SIGTERM for 10 s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null
      sleep 0.2
    fi
  fi
  rm -f "$pf"
}

# Cancel the jobs first: their slurmstepd processes would outlive slurmd otherwise.
if pid_of "$RUN/slurmctld.pid" slurmctld >/dev/null && timeout 5 scontrol ping >/dev/null 2>&1; then
  ids=$(timeout 10 squeue -h -t PD,R,CF,CG,S,ST -o %A 2>/dev/null | tr '\n' ' ')
  if [[ -n ${ids// /} ]]; then
    log "cancelling jobs: $ids"
    # shellcheck disable=SC2086
    timeout 10 scancel $ids >/dev/null 2>&1 || true
    for _ in $(seq 200); do  # up to 20 s (KillWait plus cleanup)
      [[ -z $(timeout 5 squeue -h -t R,CG,S,ST,CF -o %A 2>/dev/null) ]] && break
      sleep 0.1
    done
    left=$(timeout 5 squeue -h -t R,CG,S,ST,CF -o %A 2>/dev/null | tr '\n' ' ')
    [[ -n ${left// /} ]] && log "jobs still running or completing after 20 s: $left"
  fi
fi
for pf in "$RUN"/slurmd-*.pid; do [[ -e $pf ]] && stop_pidfile "$pf" slurmd; done
stop_pidfile "$RUN/slurmctld.pid" slurmctld
if ((SLURM_ONLY == 0)) && [[ -e $RUN/munged.started-by-us ]]; then
  stop_pidfile /run/munge/munged.pid munged
  rm -f "$RUN/munged.started-by-us"
fi
log "down"
exit 0
