# shellcheck shell=bash
# Reading an Xauthority file without xauth. Sourced only when xauth is not installed.

# csbx_xauth_entries FILE NUMBER: sets csbx_xauth_out to the entries of Xauthority FILE for local display
# NUMBER, as printf %b escapes (the data holds NUL bytes, which a bash string cannot). Each entry is
# family (u16, big-endian), then address, number, name and data, each a u16 length and that many bytes.
# Kept: family Local (256) whose address is this host's name, and family Wild (65535), as xauth does
# for ":N". Anything malformed ends the parse with what was kept so far.
csbx_xauth_entries() {
  csbx_xauth_out=''
  local b=() host='' n i=0 start family len field fields=() ch esc text k
  IFS= read -r host </proc/sys/kernel/hostname || host=''
  read -r -d '' -a b < <(od -An -v -tu1 -- "$1" 2>/dev/null) || true
  n=${#b[@]}
  while ((i + 2 <= n)); do
    start=$i
    family=$((b[i] * 256 + b[i + 1]))
    i=$((i + 2))
    fields=()
    for field in address number name data; do
      ((i + 2 <= n)) || return 0
      len=$((b[i] * 256 + b[i + 1]))
      i=$((i + 2))
      ((i + len <= n)) || return 0
      if [[ $field == address || $field == number ]]; then
        esc=''
        for ((k = i; k < i + len; k++)); do
          printf -v ch '\\x%02x' "${b[k]}"
          esc+=$ch
        done
        printf -v text '%b' "$esc"
        fields+=("$text")
      fi
      i=$((i + len))
    done
    if [[ ${fields[1]} == "$2" ]] && { ((family == 65535)) || { ((family == 256)) && [[ ${fields[0]} == "$host" ]]; }; }; then
      for ((k = start; k < i; k++)); do
        printf -v ch '\\x%02x' "${b[k]}"
        csbx_xauth_out+=$ch
      done
    fi
  done
}
