#!/bin/sh
# A test action loop speaking the container protocol
# (docs/container-protocol.md). Each run's "do" field picks a behaviour.
S=XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX
end() { echo $S; echo $S >&2; }

read -r line || exit 0
case "$line" in
*'"main":"bad"'*) echo "cannot load" >&2; echo '{"error":"no function named bad"}' >&3 ;;
*'"main":"garbage"'*) echo 'hello' >&3 ;;
*) echo "init log"; echo '{"ok":true}' >&3 ;;
esac
end

n=0
while read -r line; do
  n=$((n+1))
  case "$line" in
  *'"do":"echo"'*) echo "out $n"; echo "err $n" >&2; echo "{\"n\":$n}" >&3 ;;
  *'"do":"spam"'*)
    i=0
    while [ $i -lt 2000 ]; do echo "line $i ..............................................."; i=$((i+1)); done
    echo '{"ok":true}' >&3 ;;
  *'"do":"fakesentinel"'*) echo "before"; echo $S; echo "after"; echo '{"ok":true}' >&3 ;;
  *'"do":"sleep"'*) echo "going to sleep"; sleep 1000 ;;
  *'"do":"exit"'*) echo "bye"; exit 3 ;;
  *'"do":"oom"'*) x=$(head -c 200000000 /dev/zero | tr '\0' a); echo '{"survived":true}' >&3 ;;
  *'"do":"forkbomb"'*) (b() { b | b & }; b) >/dev/null 2>&1 & echo '{"ok":true}' >&3 ;;
  *'"do":"files"'*)
    if touch /newfile 2>/dev/null; then r=yes; else r=no; fi
    if touch /action/newfile 2>/dev/null; then a=yes; else a=no; fi
    if echo hi >/tmp/t && [ "$(cat /tmp/t)" = hi ]; then t=yes; else t=no; fi
    c=$(cat /action/code.txt)
    echo "{\"root\":\"$r\",\"action\":\"$a\",\"tmp\":\"$t\",\"code\":\"$c\"}" >&3 ;;
  *'"do":"cgroups"'*)
    lim=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max 2>/dev/null || echo none)
    if touch /sys/fs/cgroup/x 2>/dev/null || echo 1 >/sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null; then w=yes; else w=no; fi
    echo "{\"limit\":\"$lim\",\"write\":\"$w\"}" >&3 ;;
  *'"do":"memfds"'*) echo "{\"memfds\":\"$(ls -l /proc/$$/fd | grep -c memfd)\"}" >&3 ;;
  *'"do":"whoami"'*)
    st() { awk -v k="$1:" '$1 == k {print $2}' /proc/self/status; }
    if unshare -U true 2>/dev/null; then us=yes; else us=no; fi
    ifs=$(tail -n +3 /proc/net/dev | grep -vc ' lo:')
    echo "{\"uid\":\"$(id -u)\",\"gid\":\"$(id -g)\",\"capeff\":\"$(st CapEff)\",\"capbnd\":\"$(st CapBnd)\",\"nnp\":\"$(st NoNewPrivs)\",\"seccomp\":\"$(st Seccomp)\",\"host\":\"$(hostname)\",\"userns\":\"$us\",\"ifaces\":\"$ifs\",\"pid\":\"$$\",\"nofile\":\"$(ulimit -n)\"}" >&3 ;;
  *'"do":"connect"'*)
    to=$(echo "$line" | sed -n 's/.*"to":"\([^"]*\)".*/\1/p')
    got=$(echo ping | nc -w 2 $to 2>/dev/null | tr -cd 'a-z')
    echo "{\"got\":\"$got\"}" >&3 ;;
  *'"do":"listen"'*) (echo hi | nc -l -p 9000 >/dev/null 2>&1 &); echo '{"ok":true}' >&3 ;;
  *'"do":"notjson"'*) echo 'nope' >&3 ;;
  *'"do":"array"'*) echo '[1,2]' >&3 ;;
  *'"do":"huge"'*) { printf '{"a":"'; head -c 1100000 /dev/zero | tr '\0' a; printf '"}\n'; } >&3 ;;
  *) echo '{"error":"unknown"}' >&3 ;;
  esac
  end
done
