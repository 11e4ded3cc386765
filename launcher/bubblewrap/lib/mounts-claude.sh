# shellcheck shell=bash
# shellcheck disable=SC2004 # csbx_pinned is an associative array (mounts-checked.sh), not arithmetic
# ~/.claude inside the sandbox (sourced by mounts.sh).

# Claude Code keeps a project's sessions in ~/.claude/projects/<key>; other projects' transcripts are none
# of this sandbox's business: they hold what was said and done there (pasted secrets, file contents), and
# one written from here would be read by the host's claude when the user resumes that session. So
# ~/.claude/projects is a tmpfs inside, with only this project's directory bound in, read-write.
csbx_fs_claude_projects() {
  local dir=$1/projects key
  if [[ -L $dir ]]; then
    csbx_warn "$dir is a symlink, so other projects' Claude sessions stay visible in the sandbox"
    return 0
  fi
  csbx_claude_project_key
  key=$dir/$csbx_claude_key
  [[ -d $dir ]] || mkdir -m 0700 -- "$dir" 2>/dev/null || [[ -d $dir ]] || csbx_die 1 "cannot create $dir"
  [[ -d $key ]] || mkdir -m 0700 -- "$key" 2>/dev/null || [[ -d $key ]] || csbx_die 1 "cannot create $key"
  bw+=(--perms 0700 --tmpfs "$dir")
  csbx_bind_checked rw "$key" "$dir"
  csbx_pinned[$dir]=private
}

# Sets csbx_claude_key to Claude Code's name for the project's directory under ~/.claude/projects: the
# path with every character but an ASCII letter or digit replaced by '-' (one per UTF-16 code unit); a
# name longer than 200 is cut at 200 and followed by '-' and the base-36 absolute value of a 32-bit hash
# of the path's UTF-16 units (h = h * 31 + unit, wrapping), as Claude Code names it.
csbx_claude_project_key() {
  local LC_ALL=C.UTF-8 p=$project key i ch cp units=()
  if [[ $p =~ [^\ -~] ]]; then
    key=''
    for ((i = 0; i < ${#p}; i++)); do
      ch=${p:i:1}
      printf -v cp '%d' "'$ch"
      if ((cp > 0xFFFF)); then
        units+=($((0xD800 + ((cp - 0x10000) >> 10))) $((0xDC00 + ((cp - 0x10000) & 0x3FF))))
        key+=--
      else
        units+=("$cp")
        [[ $ch == [a-zA-Z0-9] ]] && key+=$ch || key+=-
      fi
    done
  else
    key=${p//[^a-zA-Z0-9]/-}
    if ((${#key} > 200)); then
      for ((i = 0; i < ${#p}; i++)); do
        printf -v cp '%d' "'${p:i:1}"
        units+=("$cp")
      done
    fi
  fi
  if ((${#key} > 200)); then
    local h=0 u digits=0123456789abcdefghijklmnopqrstuvwxyz b36=''
    for u in "${units[@]}"; do
      h=$((((h << 5) - h + u) & 0xFFFFFFFF))
    done
    ((h >= 0x80000000)) && h=$((0x100000000 - h))
    while :; do
      b36=${digits:h % 36:1}$b36
      h=$((h / 36))
      ((h > 0)) || break
    done
    key=${key:0:200}-$b36
  fi
  csbx_claude_key=$key
}

# ~/.claude is read-write so logins and sessions persist, except what the host's claude would load and
# run the next time it starts unsandboxed: those entries are bound read-only on top. Missing ones are
# created on the host first, empty, so the sandbox cannot create them through the rw bind either.
csbx_fs_claude() {
  local c=$HOME/.claude
  # Concurrent launches create these too: a dir that exists after a failed mkdir is fine.
  [[ -d $c ]] || mkdir -m 0700 -- "$c" 2>/dev/null || [[ -d $c ]] || csbx_die 1 "cannot create $c; check that HOME is writable"
  bw+=(--bind "$c" "$c")
  local name
  for name in "${spec_claude_ro[@]}"; do
    [[ $name != */* && $name != .* ]] || continue
    if [[ ! -e $c/$name && ! -L $c/$name ]]; then
      # Names with an extension are files, the rest directories. Placeholders stay empty: an empty
      # file is "nothing configured" to claude, and obviously not content the sandbox wrote.
      case $name in
        *.*) : >>"$c/$name" ;;
        *) mkdir -m 0700 -- "$c/$name" 2>/dev/null || [[ -d $c/$name ]] || csbx_die 1 "cannot create $c/$name" ;;
      esac
    fi
    if [[ -L $c/$name ]]; then
      # A link of the user's own (dotfiles): what it points to, read-only. No running sandbox can have
      # swapped it, since the entry is a mount point in every one.
      bw+=(--ro-bind "$c/$name" "$c/$name")
    else
      csbx_bind_checked ro "$c/$name" "$c"
    fi
    # Scripts named in settings.json below it (~/.claude/hooks/x.sh) need no pin over it.
    csbx_pinned[$c/$name]=ro
  done
  # Protected only when present (creating them would change how the host's claude behaves):
  # ~/.claude/local holds a locally installed claude that the host runs.
  for name in "${spec_claude_ro_opt[@]}"; do
    [[ $name != */* && $name != .* ]] || continue
    csbx_ro_under "$c" "$name"
  done
  # What the host's claude sources later (shell snapshots: a bash script per session, run before every
  # Bash tool call) must not be writable either, yet the claude inside needs a place for its own: each
  # project gets a private directory bound over the host's.
  for name in "${spec_claude_private[@]}"; do
    [[ $name != */* && $name != .* ]] || continue
    [[ -d $c/$name ]] || mkdir -m 0700 -- "$c/$name" 2>/dev/null || continue
    [[ -d $state/claude-$name ]] || mkdir -m 0700 -- "$state/claude-$name" 2>/dev/null ||
      [[ -d $state/claude-$name ]] || csbx_die 1 "cannot create $state/claude-$name"
    bw+=(--bind "$state/claude-$name" "$c/$name")
    csbx_pinned[$c/$name]=private
  done
  csbx_fs_claude_projects "$c"
  # Scripts that settings.json runs (statusLine, hooks) by a path under ~/.claude are read-only too.
  # The ways a settings file names the home directory (a JSON string may quote $HOME as \"$HOME\") are all
  # turned into ~ first.
  # shellcheck disable=SC2088 # literal text of settings files, not paths to expand
  local f text path re='~/\.claude/([A-Za-z0-9._/-]+)' tilde='~/.claude/' form
  # shellcheck disable=SC2016 # the same
  local forms=('$HOME/.claude/' '${HOME}/.claude/' '"$HOME"/.claude/' '"${HOME}"/.claude/'
    '\"$HOME\"/.claude/' '\"${HOME}\"/.claude/')
  for f in "$c/settings.json" "$c/settings.local.json"; do
    [[ -s $f ]] || continue
    IFS= read -r -d '' text <"$f" || true
    text=${text//"$HOME/.claude/"/"$tilde"}
    for form in "${forms[@]}"; do
      text=${text//"$form"/"$tilde"}
    done
    while [[ $text =~ $re ]]; do
      path=${BASH_REMATCH[1]}
      text=${text#*"${BASH_REMATCH[0]}"}
      csbx_ro_named "$c" "$path"
    done
  done
  # Copied, not bound: claude rewrites this file often, and a bind of a file that gets replaced by
  # rename goes stale (the seed's lesson).
  if [[ -f $HOME/.claude.json ]]; then
    local fd
    exec {fd}<"$HOME/.claude.json"
    bw+=(--perms 0600 --file "$fd" "$HOME/.claude.json")
  fi
}

