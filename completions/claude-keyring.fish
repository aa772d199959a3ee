# fish completion for claude-keyring and claude-keyring-agent

# The claude-keyring command on the command line: the first word after the
# program name that is not an option.
function __claude_keyring_command
    for token in (commandline -opc)[2..-1]
        switch $token
            case '-*'
                continue
            case '*'
                echo $token
                return 0
        end
    end
    return 1
end

function __claude_keyring_no_command
    not __claude_keyring_command >/dev/null
end

# __claude_keyring_using COMMAND...: whether the command is one of these.
function __claude_keyring_using
    set -l command (__claude_keyring_command)
    and contains -- $command $argv
end

# Whether "run" has no command line of its own yet: until "--" or a word
# that is not an option, run's own options are completed.
function __claude_keyring_run_options
    __claude_keyring_using run
    or return 1
    set -l seen_run 0
    for token in (commandline -opc)[2..-1]
        if test $seen_run = 0
            test "$token" = run
            and set seen_run 1
            continue
        end
        test "$token" = --
        and return 1
        string match -q -- '-*' $token
        or return 1
    end
    return 0
end

# Whether "ssh" has its destination yet: ssh's options come first, and
# "-p 22" takes the word after it.
function __claude_keyring_ssh_destination
    __claude_keyring_using ssh
    or return 1
    set -l seen_ssh 0
    set -l skip 0
    for token in (commandline -opc)[2..-1]
        if test $seen_ssh = 0
            test "$token" = ssh
            and set seen_ssh 1
            continue
        end
        if test $skip = 1
            set skip 0
            continue
        end
        if string match -qr -- '^-[BbcDEeFIiJLlmOoPpQRSWw]$' $token
            set skip 1
        else if not string match -q -- '-*' $token
            return 0
        end
    end
    return 1
end

complete -c claude-keyring -f

complete -c claude-keyring -n __claude_keyring_no_command -s h -l help -d 'Show the commands'
complete -c claude-keyring -n __claude_keyring_no_command -l version -d 'Show the version'
complete -c claude-keyring -n __claude_keyring_no_command -a login -d 'Log in to Claude in the browser'
complete -c claude-keyring -n __claude_keyring_no_command -a logout -d 'Log out and remove the stored credentials'
complete -c claude-keyring -n __claude_keyring_no_command -a status -d 'Show the credential state'
complete -c claude-keyring -n __claude_keyring_no_command -a token -d 'Print the current token'
complete -c claude-keyring -n __claude_keyring_no_command -a set-api-key -d 'Store an API key read from standard input'
complete -c claude-keyring -n __claude_keyring_no_command -a helper -d 'API key helper for Claude Code'
complete -c claude-keyring -n __claude_keyring_no_command -a run -d 'Run claude (or a command) with the credential'
complete -c claude-keyring -n __claude_keyring_no_command -a ssh -d 'Run claude on another machine over ssh with this login'
complete -c claude-keyring -n __claude_keyring_no_command -a setup-claude -d "Set apiKeyHelper in Claude Code's settings"
complete -c claude-keyring -n __claude_keyring_no_command -a import -d 'Move ~/.claude/.credentials.json into the keyring'
complete -c claude-keyring -n __claude_keyring_no_command -a doctor -d 'Check the setup and say what breaks claude'
complete -c claude-keyring -n __claude_keyring_no_command -a accounts -d 'List the stored accounts'
complete -c claude-keyring -n __claude_keyring_no_command -a switch -d 'Make an account the default'
complete -c claude-keyring -n __claude_keyring_no_command -a bind -d 'Use an account for a directory and below'
complete -c claude-keyring -n __claude_keyring_no_command -a unbind -d "Remove a directory's account rule"
complete -c claude-keyring -n __claude_keyring_no_command -a rename -d 'Rename an account'

complete -c claude-keyring -n '__claude_keyring_using login logout status token set-api-key helper setup-claude import doctor accounts switch bind unbind rename' \
    -s h -l help -d 'Show the options of this command'

complete -c claude-keyring -n '__claude_keyring_using login' -l console -d 'Log in with an Anthropic Console account'
complete -c claude-keyring -n '__claude_keyring_using login' -l no-browser -d 'Only print the link'
complete -c claude-keyring -n '__claude_keyring_using login' -l manual -d 'Paste the code the web page shows'
complete -c claude-keyring -n '__claude_keyring_using login' -l code -x -d 'Complete a pending login with CODE#STATE'

complete -c claude-keyring -n '__claude_keyring_using status doctor accounts' -l json -d 'Print JSON'
complete -c claude-keyring -n '__claude_keyring_using set-api-key' -l clear -d 'Remove the stored API key'
complete -c claude-keyring -n '__claude_keyring_using set-api-key' -l as -x -d 'Store the key as this account'
complete -c claude-keyring -n '__claude_keyring_using login' -l as -x -a '(claude-keyring accounts --names 2>/dev/null)' -d 'Log in as this account'
complete -c claude-keyring -n '__claude_keyring_using status token helper' -l account -x -a '(claude-keyring accounts --names 2>/dev/null)' -d 'Use this account'
complete -c claude-keyring -n '__claude_keyring_using accounts' -l names -d 'Print the names only'
complete -c claude-keyring -n '__claude_keyring_using logout' -l all -d 'Log out of every account'
complete -c claude-keyring -n '__claude_keyring_using switch rename logout' -x -a '(claude-keyring accounts --names 2>/dev/null)'
complete -c claude-keyring -n '__claude_keyring_using bind unbind' -x -a '(__fish_complete_directories)'
complete -c claude-keyring -n '__claude_keyring_using bind' -x -a '(claude-keyring accounts --names 2>/dev/null)'
complete -c claude-keyring -n '__claude_keyring_using import' -l keep -d 'Keep the plain text file'
complete -c claude-keyring -n '__claude_keyring_using import' -l config-dir -x -a '(__fish_complete_directories)' \
    -d "Import DIR/.credentials.json (claude's CLAUDE_CONFIG_DIR)"

complete -c claude-keyring -n '__claude_keyring_using setup-claude' -l gateway -d 'Send plain claude through the gateway'
complete -c claude-keyring -n '__claude_keyring_using setup-claude' -l remove -d 'Remove what setup-claude set, revoking the gateway token'
complete -c claude-keyring -n '__claude_keyring_using setup-claude' -l settings -r -F -d "Claude Code's settings file"

# run: its own options, then a command line completed as if typed alone.
complete -c claude-keyring -n __claude_keyring_run_options -l env -d 'Pass the token in the environment'
complete -c claude-keyring -n __claude_keyring_run_options -l direct -d 'Pass the credential itself, without the gateway'
complete -c claude-keyring -n __claude_keyring_run_options -l account -x -a '(claude-keyring accounts --names 2>/dev/null)' -d 'Use this account'
complete -c claude-keyring -n __claude_keyring_run_options -s h -l help -d 'Show the options of this command'
complete -c claude-keyring -n '__claude_keyring_using run' -x -a '(__fish_complete_subcommand --fcs-skip=2)'

# ssh: ssh's options that matter most, a destination, then the remote command.
complete -c claude-keyring -n '__claude_keyring_using ssh' -l persist -d 'Keep the session for the next connection, for tmux'
complete -c claude-keyring -n '__claude_keyring_using ssh' -s h -l help -d 'Show the options of this command'
complete -c claude-keyring -n '__claude_keyring_using ssh' -s p -x -d 'Port of the remote sshd'
complete -c claude-keyring -n '__claude_keyring_using ssh' -s i -r -F -d 'Identity file'
complete -c claude-keyring -n '__claude_keyring_using ssh' -s F -r -F -d 'ssh configuration file'
complete -c claude-keyring -n '__claude_keyring_using ssh' -s l -x -a '(__fish_complete_users)' -d 'Login name'
complete -c claude-keyring -n '__claude_keyring_using ssh' -s J -x -a '(__fish_print_hostnames)' -d 'Jump host'
complete -c claude-keyring -n '__claude_keyring_using ssh' -s o -x -d 'ssh option'
complete -c claude-keyring -n '__claude_keyring_using ssh' -s t -d 'Force a terminal'
complete -c claude-keyring -n '__claude_keyring_using ssh' -s T -d 'No terminal'
complete -c claude-keyring -n '__claude_keyring_using ssh; and not __claude_keyring_ssh_destination' -x -a '(__fish_print_hostnames)'
complete -c claude-keyring -n __claude_keyring_ssh_destination -x -a claude -d 'Claude Code on the remote host'

complete -c claude-keyring-agent -f
complete -c claude-keyring-agent -l headless -d 'Run without tray icon and windows'
complete -c claude-keyring-agent -l replace -d 'Replace the running agent'
complete -c claude-keyring-agent -l version -d 'Print the version and exit'
complete -c claude-keyring-agent -s h -l help -d 'Show the options'
