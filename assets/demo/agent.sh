#!/bin/sh
# pixelrts-agent: the demo guest's end of the command channel (busybox sh, POSIX).
#
# Channel device: the virtio-serial port named org.pixelrts.channel if there is one, else the
# second UART /dev/ttyS1 (put in raw mode, no echo). Override: pixelrts.channel=/dev/X on the
# kernel command line. Protocol: one compact JSON message per line in each direction
# (docs/vm.md). The agent
#   - announces itself once its end is open: a status message "agent ready";
#   - sends {"type":"heartbeat",...} every second;
#   - answers {"type":"command","data":{"message":"ping"},"id":"X"} with a status "pong"
#     carrying "id":"X";
#   - on "shutdown": answers, then runs poweroff -f;
#   - on "pause-heartbeats" (test knob; details.seconds, default 5): answers, stops sending
#     heartbeats for that long; "resume-heartbeats" ends the pause early;
#   - reports any other command, and any message that is not a command, as an "error"
#     message carrying the request's id.
# Parsing uses shell pattern expansion only: no fork per message, which keeps the round trip
# fast under TCG. It expects compact JSON (no spaces after ':'), which the host library writes.
PATH=/bin

dev=
for arg in $(cat /proc/cmdline); do
  case "$arg" in pixelrts.channel=*) dev=${arg#pixelrts.channel=} ;; esac
done
find_port() {
  for port in /sys/class/virtio-ports/*; do
    [ -e "$port/name" ] || continue
    read -r name <"$port/name"
    [ "$name" = org.pixelrts.channel ] && [ -c "/dev/${port##*/}" ] && dev=/dev/${port##*/}
  done
}
# A VM given the virtio port has no second UART (ttyS1's type is 0, "unknown").
second_uart() {
  read -r type 2>/dev/null </sys/class/tty/ttyS1/type && [ "$type" != 0 ]
}
if [ -z "$dev" ] && [ -d /sys/module/virtio_console ]; then
  # The port appears when QEMU announces it, and its /dev node a moment later; on a loaded host
  # under TCG that can take seconds. Fall back to ttyS1 after 5 s only if there is a ttyS1:
  # without one the port is the only channel there can be, so wait for it.
  n=0
  while [ -z "$dev" ]; do
    find_port
    [ -n "$dev" ] && break
    [ $n -ge 50 ] && second_uart && break
    sleep 0.1
    n=$((n + 1))
  done
fi
[ -n "$dev" ] || dev=/dev/ttyS1
# 115200 baud: QEMU times the UART receive-timeout interrupt (4 character times) by the
# line speed, so the default 9600 baud would add ~4 ms to every message we read.
case "$dev" in /dev/tty*) stty -F "$dev" raw -echo 115200 2>/dev/null ;; esac

pausefile=/run/pixelrts/heartbeat-paused
cr=$(printf '\r')

uptime_s() {
  read -r up _ </proc/uptime
  echo "${up%%.*}"
}

heartbeats() {
  seq=0
  while :; do
    if [ -e "$pausefile" ]; then
      read -r until <"$pausefile"
      read -r up _ </proc/uptime
      [ "${up%%.*}" -ge "$until" ] && rm -f "$pausefile"
    fi
    if [ ! -e "$pausefile" ]; then
      seq=$((seq + 1))
      read -r up _ </proc/uptime
      ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
      printf '{"type":"heartbeat","data":{"message":"System alive","details":{"seq":%d,"uptime":"%s"}},"timestamp":"%s","direction":"vm-to-host"}\n' \
        "$seq" "$up" "$ts" >&3
    fi
    sleep 1
  done
}

# reply TYPE ID MESSAGE [DETAILS-JSON]
reply() {
  idfield=
  [ -n "$2" ] && idfield=",\"id\":\"$2\""
  details=${4:-}
  [ -n "$details" ] || details='{}'
  printf '{"type":"%s"%s,"data":{"message":"%s","details":%s},"direction":"vm-to-host"}\n' \
    "$1" "$idfield" "$3" "$details" >&3
}

handle() {
  line=$1
  id=
  case "$line" in *'"id":"'*) id=${line#*\"id\":\"}; id=${id%%\"*} ;; esac
  case "$id" in *\\*) id= ;; esac
  msg=
  case "$line" in *'"message":"'*) msg=${line#*\"message\":\"}; msg=${msg%%\"*} ;; esac
  case "$msg" in *\\*) msg='(a message with escapes)' ;; esac
  case "$line" in
    *'"type":"command"'*) ;;
    *) reply error "$id" "expected a message of type command" "{\"received\":\"${msg}\"}"; return ;;
  esac
  case "$msg" in
    ping)
      read -r up _ </proc/uptime
      reply status "$id" pong "{\"uptime\":\"$up\"}" ;;
    shutdown)
      reply status "$id" "powering off"
      poweroff -f ;;
    pause-heartbeats)
      secs=5
      case "$line" in *'"seconds":'[0-9]*) secs=${line#*\"seconds\":}; secs=${secs%%[!0-9]*} ;; esac
      echo $(($(uptime_s) + secs)) >"$pausefile"
      reply status "$id" "heartbeats paused" "{\"seconds\":$secs}" ;;
    resume-heartbeats)
      rm -f "$pausefile"
      reply status "$id" "heartbeats resumed" ;;
    *)
      reply error "$id" "unknown command: $msg" "{\"known\":[\"ping\",\"shutdown\",\"pause-heartbeats\",\"resume-heartbeats\"]}" ;;
  esac
}

exec 3<>"$dev"
# The host holds what it sends until the guest has spoken: say so now that the device is open
# (and, for a UART, in raw mode), before anything could be missed.
printf '{"type":"status","data":{"message":"agent ready","details":{"agent":"pixelrts-agent","device":"%s"}},"direction":"vm-to-host"}\n' "$dev" >&3
heartbeats &
while :; do
  while IFS= read -r line <&3; do
    line=${line%"$cr"}
    [ -n "$line" ] && handle "$line"
  done
  sleep 1 # the host end went away (virtio port closed): wait and read again
done
