# shellcheck shell=bash
# Commands the host's claude runs from settings files (hooks, statusLine, the *Helper commands) and from
# .mcp.json (servers), read for the files they name (sourced by mounts-project.sh when its cache of the
# result is out of date, and by doctor.sh). The host's claude runs them with the project as working
# directory, so `sh scripts/session.sh`, `./x`, `node tools/h.js`, `cd sub && ./x` or `bash -c "…"` all
# run files of the project, which the sandbox could rewrite. Nothing here is evaluated: commands are split
# into words the way a shell would (quotes, escapes, operators, `sh -c` strings, `cd`), and only
# $CLAUDE_PROJECT_DIR, $HOME, $PWD and ~ are expanded; a word with any other expansion or a glob names
# nothing we can know.
#
# Result: csbx_hook_cand, pairs of ROLE and absolute PATH. ROLE s: a script the command runs (a path-like
# command word, or the script an interpreter is given); a: any other word that may name a file.

# csbx_norm: doctor.sh sources this file alone.
if ! declare -F csbx_norm >/dev/null; then
  # shellcheck source=launcher/bubblewrap/lib/mounts-paths.sh
  source "${BASH_SOURCE[0]%/*}/mounts-paths.sh"
fi

# Interpreters whose first non-option argument is the script they run.
csbx_hook_interp=' sh bash dash zsh ksh node nodejs python python2 python3 ruby perl php bun tsx ts-node '
csbx_hook_shells=' sh bash dash zsh ksh '
# Their options that take the next word as a value, and those after which no script follows.
csbx_hook_optval=' -r --require --import --loader --experimental-loader -C --conditions -W -X -o -O +o +O -I '
csbx_hook_noscript=' -c -e -p --eval --print -m -E '
# Commands that run their remaining words as a command.
csbx_hook_wrappers=' env exec command nohup time nice timeout builtin '

# csbx_hook_tokens STRING: sets csbx_tok to STRING's words, each prefixed by its kind: W a word (quotes
# removed, known variables expanded), X a word we cannot resolve, A an assignment (NAME=…), O an operator
# that separates commands ( ; & | && || newline ( ) $( ` ), R a redirection (its target follows).
csbx_hook_tokens() {
  local s=$1 w='' have=0 bad=0 assign=0 run c q
  local sp=$' \t\n\'"\\$`;&|()<>' dq=$'"\\$`'
  csbx_tok=()
  while :; do
    run=${s%%["$sp"]*}
    if [[ -n $run ]]; then
      if ((!have)); then
        if [[ $run == \~ || $run == \~/* ]]; then
          run=$HOME${run#\~}
        elif [[ $run =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; then
          assign=1
        fi
      fi
      [[ $run == *[\*\?\[]* ]] && bad=1
      w+=$run
      have=1
      s=${s:${#run}}
      continue
    fi
    c=${s:0:1}
    case $c in
      '' | ' ' | $'\t' | $'\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>' | '`')
        if ((have)); then
          # A word of digits right before a redirection is its descriptor.
          if [[ ($c == '<' || $c == '>') && $w =~ ^[0-9]+$ ]]; then
            :
          elif ((bad)); then
            csbx_tok+=("X$w")
          elif ((assign)); then
            csbx_tok+=("A$w")
          else
            csbx_tok+=("W$w")
          fi
        fi
        w='' have=0 bad=0 assign=0
        [[ -n $c ]] || break
        case $c in
          ' ' | $'\t') ;;
          '<' | '>')
            csbx_tok+=(R)
            s=${s#["<>"]}
            s=${s#["<>&|"]}
            continue
            ;;
          *) csbx_tok+=("O$c") ;;
        esac
        s=${s:1}
        ;;
      "'")
        q=${s:1}
        run=${q%%\'*}
        w+=$run
        have=1
        s=${q:${#run}+1}
        ;;
      '"')
        s=${s:1}
        have=1
        while [[ -n $s ]]; do
          run=${s%%["$dq"]*}
          w+=$run
          s=${s:${#run}}
          c=${s:0:1}
          case $c in
            '"')
              s=${s:1}
              break
              ;;
            \\)
              case ${s:1:1} in
                '"' | \\ | '$' | '`') w+=${s:1:1} ;;
                $'\n') ;;
                *) w+=${s:0:2} ;;
              esac
              s=${s:2}
              ;;
            '$')
              csbx_hook_var
              ;;
            '`')
              bad=1
              s=${s:1}
              ;;
          esac
        done
        ;;
      \\)
        [[ ${s:1:1} == $'\n' ]] || w+=${s:1:1}
        have=1
        s=${s:2}
        ;;
      '$')
        if [[ ${s:1:1} == '(' ]]; then
          # A command substitution: its commands are commands too.
          if ((have)); then csbx_tok+=("X$w"); fi
          w='' have=0 bad=0 assign=0
          csbx_tok+=("O(")
          s=${s:2}
        else
          csbx_hook_var
          have=1
        fi
        ;;
    esac
  done
  return 0
}

# One $NAME or ${NAME} at the start of s (in csbx_hook_tokens): known ones are expanded into w, anything
# else marks the word unresolvable.
csbx_hook_var() {
  # shellcheck disable=SC2016 # a regex for $NAME, not an expansion
  local re='^\$(\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))' name
  if [[ $s =~ $re ]]; then
    name=${BASH_REMATCH[2]}${BASH_REMATCH[3]}
    s=${s:${#BASH_REMATCH[0]}}
    case $name in
      CLAUDE_PROJECT_DIR) w+=$csbx_hook_root ;;
      HOME) w+=$HOME ;;
      PWD) w+=$csbx_hook_base ;;
      *) bad=1 ;;
    esac
  else
    bad=1
    s=${s:1}
  fi
}

# csbx_hook_abs WORD: sets csbx_abs to WORD as an absolute path (relative to csbx_hook_base), with . and
# .. resolved by name; '' when it cannot be one.
csbx_hook_abs() {
  local p=$1 csbx_normed
  csbx_abs=''
  [[ -n $p && -n $csbx_hook_base ]] || return 0
  [[ $p == /* ]] || p=$csbx_hook_base/$p
  csbx_norm "$p"
  csbx_abs=$csbx_normed
}

csbx_hook_add() {
  csbx_hook_abs "$2"
  [[ -n $csbx_abs ]] && csbx_hook_cand+=("$1" "$csbx_abs")
  return 0
}

# csbx_hook_command STRING [DEPTH]: the candidates of one command string, run from csbx_hook_base.
csbx_hook_command() {
  local depth=${2:-0} csbx_tok
  ((depth < 4)) || return 0
  csbx_hook_tokens "$1"
  local toks=("${csbx_tok[@]}") n=${#csbx_tok[@]} i=0 t k stack=() words=()
  for ((i = 0; i <= n; i++)); do
    t=${toks[i]-O}
    k=${t:0:1}
    if [[ $k == O ]]; then
      ((${#words[@]})) && csbx_hook_simple "$depth" "${words[@]}"
      words=()
      case ${t:1} in
        '(') stack+=("$csbx_hook_base") ;;
        ')')
          if ((${#stack[@]})); then
            csbx_hook_base=${stack[-1]}
            unset 'stack[-1]'
          fi
          ;;
      esac
    elif [[ $k == R ]]; then
      # The redirection's target is data, not a command.
      ((++i))
    else
      words+=("$t")
    fi
  done
  return 0
}

# csbx_hook_simple DEPTH WORD...: one simple command (words with their kind prefix).
csbx_hook_simple() {
  local depth=$1
  shift
  local -a w=("$@")
  local n=${#w[@]} i=0 cmd name j v script=''
  # Assignments, then wrappers (env, exec, timeout 5, nice -n 5, …) before the command itself.
  while ((i < n)); do
    if [[ ${w[i]} == A* ]]; then
      ((++i))
      continue
    fi
    [[ ${w[i]} == W* ]] || break
    name=${w[i]:1}
    name=${name##*/}
    [[ $csbx_hook_wrappers == *" $name "* ]] || break
    ((++i))
    while ((i < n)) && [[ ${w[i]} == W-* || ${w[i]} == A* ]]; do
      [[ $name == nice && ${w[i]} == W-n ]] && ((++i))
      ((++i))
    done
    [[ $name == timeout ]] && ((++i))
  done
  ((i < n)) || return 0
  if [[ ${w[i]} != W* ]]; then
    # An unresolvable command: its other words may still name files.
    for ((j = i + 1; j < n; j++)); do [[ ${w[j]} == W* ]] && csbx_hook_add a "${w[j]:1}"; done
    return 0
  fi
  cmd=${w[i]:1}
  name=${cmd##*/}
  if [[ $cmd == cd ]]; then
    for ((j = i + 1; j < n; j++)); do
      [[ ${w[j]} == W-* && ${w[j]} != W- ]] && continue
      break
    done
    if ((j < n)) && [[ ${w[j]} == W* ]]; then
      csbx_hook_abs "${w[j]:1}"
      csbx_hook_base=$csbx_abs
    else
      # cd to $HOME, or somewhere we cannot know: nothing after it resolves.
      csbx_hook_base=''
    fi
    return 0
  fi
  # A bare command name is looked up on PATH, not in the project.
  [[ $cmd == */* ]] && csbx_hook_add s "$cmd"
  local cstr=-1 shell=0 base=$csbx_hook_base
  [[ $csbx_hook_shells == *" $name "* ]] && shell=1
  if [[ $csbx_hook_interp == *" $name "* ]]; then
    for ((j = i + 1; j < n; j++)); do
      v=${w[j]:1}
      [[ ${w[j]} == W* ]] || break
      if ((shell)) && [[ $v =~ ^-[a-zA-Z]*c[a-zA-Z]*$ ]]; then
        # sh -c STRING (also -ec, -xc): the string is a command line of its own.
        for ((j++; j < n; j++)); do
          [[ ${w[j]} == W[-+]* ]] && continue
          if [[ ${w[j]} == W* ]]; then
            cstr=$j
            csbx_hook_command "${w[j]:1}" $((depth + 1))
            csbx_hook_base=$base
          fi
          break
        done
        break
      fi
      [[ $csbx_hook_noscript == *" $v "* ]] && break
      # Options that take the next word: listed ones, and a shell's -o/+O clusters (-euo pipefail).
      if [[ $csbx_hook_optval == *" $v "* ]] || { ((shell)) && [[ $v =~ ^[-+][a-zA-Z]*[oO]$ ]]; }; then
        ((++j))
        continue
      fi
      if [[ $v == -- ]]; then
        ((++j))
        ((j < n)) && [[ ${w[j]} == W* ]] && script=${w[j]:1}
        break
      fi
      [[ $v == [-+]?* ]] && continue
      script=$v
      break
    done
    [[ -n $script ]] && csbx_hook_add s "$script"
  fi
  # Every other word may name a file (eslint --config=x.js, a data file); options themselves do not.
  for ((j = i + 1; j < n; j++)); do
    [[ ${w[j]} == W* && $j != "$cstr" ]] || continue
    v=${w[j]:1}
    [[ $v == "$script" ]] && continue
    if [[ $v == -* ]]; then
      [[ $v == --*=?* ]] || continue
      v=${v#*=}
    fi
    csbx_hook_add a "$v"
  done
  return 0
}

# csbx_json_unescape STRING: sets csbx_unesc to a JSON string's content.
csbx_json_unescape() {
  local s=$1 ch
  if [[ $s != *\\* ]]; then
    csbx_unesc=$s
    return 0
  fi
  s=${s//\\\\/$'\x01'}
  s=${s//\\\"/\"}
  s=${s//\\\//\/}
  s=${s//\\n/$'\n'}
  s=${s//\\t/$'\t'}
  s=${s//\\r/$'\r'}
  s=${s//\\b/}
  s=${s//\\f/}
  local re='\\u([0-9a-fA-F]{4})'
  while [[ $s =~ $re ]]; do
    printf -v ch '%b' "\\u${BASH_REMATCH[1]}"
    s=${s//"${BASH_REMATCH[0]}"/"$ch"}
  done
  csbx_unesc=${s//$'\x01'/\\}
}

# csbx_hook_text KIND TEXT ROOT: the candidates of one settings file (KIND settings) or .mcp.json (KIND
# mcp), whose commands run from ROOT (the directory the host's claude starts in; $CLAUDE_PROJECT_DIR).
# A JSON string cannot hold an unescaped quote, so a key matched here is a key.
csbx_hook_text() {
  local kind=$1 text=$2 csbx_hook_root=$3 csbx_hook_base csbx_unesc rest body
  local re='"(command|apiKeyHelper|awsAuthRefresh|awsCredentialExport|otelHeadersHelper)"[[:space:]]*:[[:space:]]*"(([^"\\]|\\.)*)"'
  rest=$text
  while [[ $rest =~ $re ]]; do
    rest=${rest#*"${BASH_REMATCH[0]}"}
    csbx_json_unescape "${BASH_REMATCH[2]}"
    csbx_hook_base=$csbx_hook_root
    csbx_hook_command "$csbx_unesc"
  done
  [[ $kind == mcp ]] || return 0
  # A server's args are its words, each one already.
  local re_args='"args"[[:space:]]*:[[:space:]]*\[(([^]"]|"([^"\\]|\\.)*")*)\]' re_str='"(([^"\\]|\\.)*)"'
  rest=$text
  while [[ $rest =~ $re_args ]]; do
    rest=${rest#*"${BASH_REMATCH[0]}"}
    body=${BASH_REMATCH[1]}
    while [[ $body =~ $re_str ]]; do
      body=${body#*"${BASH_REMATCH[0]}"}
      csbx_json_unescape "${BASH_REMATCH[1]}"
      csbx_hook_base=$csbx_hook_root
      [[ $csbx_unesc == -* ]] || csbx_hook_add a "$csbx_unesc"
    done
  done
  return 0
}

# csbx_hooks_parse [KIND NAME ROOT TEXT]...: csbx_hook_cand for the given files' texts, and
# csbx_hook_defined to the NAMEs of those that define commands.
csbx_hooks_parse() {
  local before
  csbx_hook_cand=()
  csbx_hook_defined=()
  while (($# >= 4)); do
    before=${#csbx_hook_cand[@]}
    csbx_hook_text "$1" "$4" "$3"
    ((${#csbx_hook_cand[@]} > before)) && csbx_hook_defined+=("$2")
    shift 4
  done
  return 0
}
