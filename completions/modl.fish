# fish completion for modl(1).
# Install as modl.fish in a directory of $fish_complete_path
# (such as /usr/share/fish/vendor_completions.d).

# The command: the first argument that is not an option (global options take no value).
function __modl_command
    for word in (commandline -opc)[2..-1]
        switch $word
            case '-*'
                continue
            case '*'
                echo $word
                return 0
        end
    end
    return 1
end

# True when the command is one of the arguments.
function __modl_command_is
    set -l cmd (__modl_command)
    or return 1
    contains -- $cmd $argv
end

# True when no operand follows the command yet.
function __modl_no_operand
    set -l seen 0
    for word in (commandline -opc)[2..-1]
        switch $word
            case '-*'
                continue
            case '*'
                set seen (math $seen + 1)
        end
    end
    test $seen -le 1
end

complete -c modl -f

# Global options, before or after the command.
complete -c modl -s h -l help -d 'Show help'
complete -c modl -l version -d 'Print the version'
complete -c modl -s q -l quiet -d 'Print nothing but results and errors'
complete -c modl -s v -l verbose -d 'Log HTTP requests and answers to stderr'
complete -c modl -l json -d 'Print one JSON document on stdout'

# Commands.
complete -c modl -n 'not __modl_command' -a pull -d 'Download a repository into the cache, verified'
complete -c modl -n 'not __modl_command' -a verify -d "Re-hash a cached snapshot against the Hub's hashes"
complete -c modl -n 'not __modl_command' -a info -d "Show a repository's metadata"
complete -c modl -n 'not __modl_command' -a ls -d "List a repository's files with size, kind and hash"
complete -c modl -n 'not __modl_command' -a login -d 'Check a token with the Hub and save it'
complete -c modl -n 'not __modl_command' -a logout -d 'Remove the saved token'
complete -c modl -n 'not __modl_command' -a whoami -d 'Show the user of the token'
complete -c modl -n 'not __modl_command' -a env -d 'Show versions, endpoint, paths and token presence'
complete -c modl -n 'not __modl_command' -a inspect -d 'Show the header of a safetensors or GGUF file'
complete -c modl -n 'not __modl_command' -a help -d 'Show the usage of a command'

# pull, verify, info, ls
complete -c modl -n '__modl_command_is pull verify info ls' -l repo-type -x -a 'model dataset space' -d 'Repository type'

# pull
complete -c modl -n '__modl_command_is pull' -l include -x -d 'Take only matching paths (glob)'
complete -c modl -n '__modl_command_is pull' -l exclude -x -d 'Leave matching paths out (glob)'
complete -c modl -n '__modl_command_is pull' -l local-dir -x -a '(__fish_complete_directories (commandline -ct))' -d 'Write plain files to DIR instead of the cache'
complete -c modl -n '__modl_command_is pull' -l jobs -x -d 'Files at once (default 8)'
complete -c modl -n '__modl_command_is pull' -l connections -x -d 'Byte ranges at once per large file (default 8)'
complete -c modl -n '__modl_command_is pull' -l dry-run -d 'Show what would be downloaded and what is cached'
complete -c modl -n '__modl_command_is pull' -l force -d 'Download again even what is already there'

# login
complete -c modl -n '__modl_command_is login' -l token -x -a - -d 'Access token, or - for standard input'

# inspect
complete -c modl -n '__modl_command_is inspect' -l tensors -d 'List every tensor'
complete -c modl -n '__modl_command_is inspect' -F

# help COMMAND
complete -c modl -n '__modl_command_is help; and __modl_no_operand' -a 'pull verify info ls login logout whoami env inspect help'
