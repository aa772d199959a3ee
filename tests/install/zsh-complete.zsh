# zsh -f zsh-complete.zsh FUNCTION_DIR DUMP KEYS
#
# Types KEYS (a command line with TABs) into an interactive zsh whose fpath
# starts with FUNCTION_DIR, and prints what the terminal showed: the line as
# completed and any list of matches. zpty is the only way to run zsh's
# completion system outside a real terminal. DUMP is compinit's dump file,
# made by the caller with the same fpath: reading it is what keeps a session
# fast.
zmodload zsh/zpty || exit 77

local dir=$1 dump=$2 keys=$3 out= chunk idle=0 i

zpty ck env TERM=dumb COLUMNS=200 LINES=100 zsh -f -i
zpty -w ck "PS1='ck-ready%# '; unsetopt beep; fpath=(${(q)dir} \$fpath); autoload -Uz compinit; compinit -C -u -d ${(q)dump}; zstyle ':completion:*' list-rows-first true; print ck-set''up-done"

# Wait for the setup to finish before typing.
for i in {1..100}; do
  zpty -r -t ck chunk && out+=$chunk || sleep 0.05
  [[ $out == *ck-setup-done*ck-ready* ]] && break
done
[[ $out == *ck-setup-done* ]] || { print -u2 "zsh did not start: $out"; exit 1 }

out=
zpty -w -n ck "$keys"
# Read until the terminal has been quiet for half a second (at most 10 s).
for i in {1..100}; do
  if zpty -r -t ck chunk; then
    out+=$chunk
    idle=0
  else
    (( ++idle >= 5 )) && [[ -n $out ]] && break
    sleep 0.1
  fi
done
zpty -d ck
print -r -- "${out//$'\r'/}"
