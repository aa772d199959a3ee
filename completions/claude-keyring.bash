# bash completion for claude-keyring and claude-keyring-agent
#
# Installed under both names in bash-completion's completionsdir, which
# loads a file when its command is first completed. Works without
# bash-completion too: source this file from ~/.bashrc.

_claude_keyring_commands="login logout status token set-api-key helper run ssh setup-claude import doctor accounts switch bind unbind rename"

# _claude_keyring_accounts: completes the names of the stored accounts.
_claude_keyring_accounts ()
{
  local IFS=$'\n'
  COMPREPLY=($(compgen -W "$(claude-keyring accounts --names 2>/dev/null)" -- "${COMP_WORDS[COMP_CWORD]}"))
}

# _claude_keyring_reply WORDLIST: completes the current word from WORDLIST.
_claude_keyring_reply ()
{
  local IFS=$' \t\n'
  COMPREPLY=($(compgen -W "$1" -- "${COMP_WORDS[COMP_CWORD]}"))
}

# _claude_keyring_files: completes file names, with "/" after directories.
_claude_keyring_files ()
{
  local IFS=$'\n'
  COMPREPLY=($(compgen -f -- "${COMP_WORDS[COMP_CWORD]}"))
  compopt -o filenames 2>/dev/null
}

_claude_keyring ()
{
  local cur=${COMP_WORDS[COMP_CWORD]}
  local prev= before_prev=
  local i command= command_index=0

  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  ((COMP_CWORD > 1)) && before_prev=${COMP_WORDS[COMP_CWORD - 2]}

  # The command is the first word after the program name that is not an
  # option.
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      -*) ;;
      *) command=${COMP_WORDS[i]}; command_index=$i; break ;;
    esac
  done

  if [[ -z $command ]]; then
    case $cur in
      -*) _claude_keyring_reply "--help --version" ;;
      *) _claude_keyring_reply "$_claude_keyring_commands" ;;
    esac
    return 0
  fi

  # "--option=VALUE" arrives as "--option" "=" "VALUE" when "=" is in
  # COMP_WORDBREAKS (the default), as "--option=VALUE" otherwise.
  local option=
  if [[ $prev == = ]]; then
    option=$before_prev
  elif [[ $cur == --*=* ]]; then
    option=${cur%%=*}
    cur=${cur#*=}
  elif [[ $prev == --* ]]; then
    option=$prev
  fi

  if [[ $option == --account || ($option == --as && $command == login) ]]; then
    _claude_keyring_accounts
    return 0
  fi

  case $command in
    login)
      # The code is pasted from the web page: nothing to complete.
      [[ $option == --code ]] && { COMPREPLY=(); return 0; }
      _claude_keyring_reply "--console --no-browser --manual --code --as --help"
      ;;
    status)
      _claude_keyring_reply "--json --account --help"
      ;;
    doctor)
      _claude_keyring_reply "--json --help"
      ;;
    accounts)
      _claude_keyring_reply "--json --names --help"
      ;;
    set-api-key)
      [[ $option == --as ]] && { COMPREPLY=(); return 0; }
      _claude_keyring_reply "--clear --as --help"
      ;;
    switch | rename)
      case $cur in
        -*) _claude_keyring_reply "--help" ;;
        *) ((COMP_CWORD == command_index + 1)) && _claude_keyring_accounts ;;
      esac
      ;;
    logout)
      case $cur in
        -*) _claude_keyring_reply "--all --help" ;;
        *) _claude_keyring_accounts ;;
      esac
      ;;
    bind | unbind)
      case $cur in
        -*) _claude_keyring_reply "--help" ;;
        *)
          local IFS=$'\n'
          COMPREPLY=($(compgen -d -- "$cur"))
          [[ $command == bind ]] && COMPREPLY+=($(compgen -W "$(claude-keyring accounts --names 2>/dev/null)" -- "$cur"))
          compopt -o filenames 2>/dev/null
          ;;
      esac
      ;;
    import)
      if [[ $option == --config-dir ]]; then
        local IFS=$'\n'
        COMPREPLY=($(compgen -d -- "$cur"))
        compopt -o filenames 2>/dev/null
        return 0
      fi
      _claude_keyring_reply "--keep --config-dir --help"
      ;;
    setup-claude)
      if [[ $option == --settings ]]; then
        local IFS=$'\n'
        COMPREPLY=($(compgen -f -- "$cur"))
        compopt -o filenames 2>/dev/null
        return 0
      fi
      _claude_keyring_reply "--gateway --remove --settings --help"
      ;;
    run)
      # Options end at "--" or at the first word that is not an option;
      # from there on the words are a command line of their own.
      local start=0
      for ((i = command_index + 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
          --) start=$((i + 1)); break ;;
          -*) ;;
          *) start=$i; break ;;
        esac
      done
      if ((start == 0)); then
        case $cur in
          -*) _claude_keyring_reply "--env --direct --account --help --" ;;
          *) COMPREPLY=($(compgen -c -- "$cur")) ;;
        esac
      elif ((start == COMP_CWORD)); then
        COMPREPLY=($(compgen -c -- "$cur"))
      elif declare -F _command_offset >/dev/null; then
        # bash-completion completes the inner command with its own rules.
        _command_offset "$start"
      else
        _claude_keyring_files
      fi
      ;;
    ssh)
      # ssh's own syntax: options (those of "BbcDEeFIiJLlmOoPpQRSWw" take
      # the next word), the destination, then the remote command.
      local destination=0 start=0
      for ((i = command_index + 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
          --) ((destination)) && { start=$((i + 1)); break; } ;;
          -[BbcDEeFIiJLlmOoPpQRSWw]) ((i++)) ;;
          -*) ;;
          *) ((destination)) && { start=$i; break; }; destination=1 ;;
        esac
      done
      case $prev in
        -[iFE]) _claude_keyring_files; return 0 ;;
        -J) COMPREPLY=($(compgen -A hostname -- "$cur")); return 0 ;;
        -[BbcDeILlmOoPpQRSWw]) COMPREPLY=(); return 0 ;;
      esac
      if ((start > 0 && start < COMP_CWORD)); then
        COMPREPLY=()
      elif ((destination)); then
        _claude_keyring_reply "claude"
      elif [[ $cur == -* ]]; then
        _claude_keyring_reply "--persist --help -p -i -l -J -F -o -t -T -A -v -q -C -4 -6"
      elif declare -F _known_hosts_real >/dev/null; then
        _known_hosts_real -a -- "$cur"
      else
        COMPREPLY=($(compgen -A hostname -- "$cur"))
      fi
      ;;
    token | helper)
      _claude_keyring_reply "--account --help"
      ;;
    *)
      COMPREPLY=()
      ;;
  esac
  return 0
}

_claude_keyring_agent ()
{
  _claude_keyring_reply "--headless --replace --version --help"
}

complete -F _claude_keyring claude-keyring
complete -F _claude_keyring_agent claude-keyring-agent
